"""The floor for bench_new.py: a bare script that imports the libraries a task's project
imports (torch, datasets, transformers with its Trainer) and trains the task's tiny twin
(its family's twin config from families.yaml, the task's Auto class from its manifest)
for 2 steps on random token ids: plain loop, no
Trainer, no tokenizer training, the least work that counts. Vision tasks: random
32x32 images; audio tasks: random half-second waveforms (AST: filter banks of the
twin's size); each with the libraries their data code imports.

    python bench/floor_twin.py [--task textclf] [--model-type bert]
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import yaml

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# What each task's generated code imports beyond torch, transformers and datasets.
EXTRA_IMPORTS = {
    "seq2seq": ["rouge_score.rouge_scorer", "sacrebleu"],
    "imgclf": ["PIL.Image"],
    "audioclf": ["soundfile", "scipy.signal"],
}

parser = argparse.ArgumentParser()
parser.add_argument("--task", default="textclf")
parser.add_argument("--model-type", default="bert")
args = parser.parse_args()
manifest = yaml.safe_load((TEMPLATES / args.task / "manifest.yaml").read_text())
family = yaml.safe_load((TEMPLATES / "_common" / "families.yaml").read_text())[
    args.model_type
]

import datasets  # noqa: E402,F401
import torch  # noqa: E402
import transformers  # noqa: E402

# Every task's train.py imports the Trainer (seq2seq: Seq2SeqTrainer, built on it), which
# brings accelerate and the rest of transformers' training code: 2 to 3 s here, which
# `import transformers` alone (lazy) does not load.
from transformers import Trainer  # noqa: E402,F401

for name in EXTRA_IMPORTS.get(args.task, []):
    importlib.import_module(name)

auto_class = getattr(transformers, manifest["vars"]["auto_class"])
vocab = 300
vision = auto_class.__name__ == "AutoModelForImageClassification"
audio = auto_class.__name__ == "AutoModelForAudioClassification"
tokens = (
    {}
    if vision or audio
    else dict(
        vocab_size=vocab, pad_token_id=0, eos_token_id=3, decoder_start_token_id=0
    )
)
config = transformers.AutoConfig.for_model(
    args.model_type, **family["config"], **tokens, num_labels=2
)
model = auto_class.from_config(config)
generator = torch.Generator().manual_seed(0)
optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
model.train()
for step in range(2):
    if vision or audio:
        if vision:
            shape = (4, 3, 32, 32)
        elif args.model_type == "audio-spectrogram-transformer":
            shape = (4, config.max_length, config.num_mel_bins)
        else:
            shape = (4, 8000)
        key = "pixel_values" if vision else "input_values"
        batch = {key: torch.randn(*shape, generator=generator)}
        batch["labels"] = torch.randint(0, 2, (4,), generator=generator)
        loss = model(**batch).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
        continue
    batch = {"input_ids": torch.randint(5, vocab, (4, 16), generator=generator)}
    batch["attention_mask"] = torch.ones_like(batch["input_ids"])
    if auto_class.__name__ == "AutoModelForQuestionAnswering":
        batch["start_positions"] = torch.randint(0, 16, (4,), generator=generator)
        batch["end_positions"] = torch.randint(0, 16, (4,), generator=generator)
    elif auto_class.__name__ == "AutoModelForTokenClassification":
        batch["labels"] = torch.randint(0, 2, (4, 16), generator=generator)
    elif auto_class.__name__ == "AutoModelForSeq2SeqLM":
        batch["labels"] = torch.randint(5, vocab, (4, 8), generator=generator)
    elif auto_class.__name__ == "AutoModelForCausalLM":
        batch["labels"] = batch["input_ids"].clone()
    else:
        batch["labels"] = torch.randint(0, 2, (4,), generator=generator)
    loss = model(**batch).loss
    loss.backward()
    optim.step()
    optim.zero_grad()
print(
    f"floor: {args.task} on a {args.model_type} twin, 2 steps, loss {loss.item():.3f}"
)
