"""The floor for bench_new.py: a bare script that imports torch, transformers and datasets
and trains a tiny BERT twin for 2 steps (plain loop, no Trainer: the least work that counts).
"""

from __future__ import annotations

import torch
import transformers
from datasets import Dataset
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

words = "good great fine bad awful poor film plot actor scene".split()
texts = [" ".join(words[(i * 7 + j) % len(words)] for j in range(8)) for i in range(32)]
labels = [i % 2 for i in range(32)]

tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
tok.normalizer = normalizers.BertNormalizer(lowercase=True)
tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
tok.train_from_iterator(
    texts,
    trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ),
)
tokenizer = transformers.PreTrainedTokenizerFast(
    tokenizer_object=tok,
    pad_token="[PAD]",
    unk_token="[UNK]",
    model_input_names=["input_ids", "attention_mask"],
)

config = transformers.BertConfig(
    vocab_size=tok.get_vocab_size(),
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,
    max_position_embeddings=64,
    num_labels=2,
)
model = transformers.BertForSequenceClassification(config)
ds = Dataset.from_dict({"text": texts, "label": labels}).map(
    lambda b: tokenizer(b["text"], truncation=True, max_length=32), batched=True
)
collate = transformers.DataCollatorWithPadding(tokenizer)
loader = torch.utils.data.DataLoader(
    ds.remove_columns(["text"]), batch_size=4, collate_fn=collate
)
optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
model.train()
for step, batch in zip(range(2), loader):
    loss = model(**batch).loss
    loss.backward()
    optim.step()
    optim.zero_grad()
print(f"floor: 2 steps, loss {loss.item():.3f}")
