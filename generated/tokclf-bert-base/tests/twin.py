"""The tiny twin: a model of the spec's architecture (same model_type) with a few ten
thousand parameters, and a tokenizer, both built offline in seconds.

Rendered by scriptgen from the families registry; part of the judge, not of the code
under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import string
import tempfile
from collections.abc import Callable
from pathlib import Path

MODEL_TYPE = "bert"  # The twin's sizes (families.yaml; for a qlora project in whole quantization blocks of 64,
# as bitsandbytes' CPU kernels need and every real checkpoint has).
TWIN_CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}
# Where the base model keeps its list of layers (families.yaml), known independently of
# the code under test.
LAYERS = "encoder.layer"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0 to 4
MAX_LENGTH = 32
# Saved beside the twin's weights by save_twin().
ANATOMY = "twin_anatomy.json"


def build_tokenizer(corpus: list[str], max_length: int = MAX_LENGTH):
    """A WordPiece tokenizer trained on ``corpus``, with BERT-style special tokens; every
    architecture's twin uses it (token ids are what matter to the model)."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tokenizer.train_from_iterator(corpus, trainer)
    cls_id, sep_id = SPECIAL_TOKENS.index("[CLS]"), SPECIAL_TOKENS.index("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[CLS]",
        eos_token="[SEP]",
        model_max_length=max_length,
        # Not every architecture takes token_type_ids.
        model_input_names=["input_ids", "attention_mask"],
    )


# The families whose real tokenizers are a byte-level BPE (a word's leading space is part
# of its first piece), and those with a SentencePiece-style Unigram; the others WordPiece.
BYTE_LEVEL_FAMILIES = (
    "roberta",
    "modernbert",
    "longformer",
    "gpt2",
    "bart",
    "llama",
    "qwen2",
)
UNIGRAM_FAMILIES = (
    "deberta-v2",
    "xlm-roberta",
    "albert",
    "camembert",
    "t5",
    "mt5",
    "marian",
)
# The families whose tokenizers end a text with </s> and put nothing before it (the
# others: [CLS] or <s> first).
EOS_ONLY_FAMILIES = ("t5", "mt5", "marian")
# Causal LMs' tokenizers add no end mark: the text as it is (GPT-2, Qwen2), or after the
# beginning-of-text token (Llama's <|begin_of_text|>).
DECODER_TEMPLATES = {"gpt2": "$A", "qwen2": "$A", "llama": "[CLS] $A"}


def build_family_tokenizer(corpus: list[str]):
    """A tokenizer trained on ``corpus`` in the family's style (byte-level BPE,
    SentencePiece-style Unigram or WordPiece), saved as its real counterpart would be
    (RoBERTa's own class; a generic fast tokenizer otherwise): where words and offsets
    matter (tokclf, qa), the code under test meets what the real tokenizer does."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    special = {"special_tokens": SPECIAL_TOKENS, "show_progress": False}
    if MODEL_TYPE in BYTE_LEVEL_FAMILIES:
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=1000,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            **special,
        )
    elif MODEL_TYPE in UNIGRAM_FAMILIES:
        # Unigram's trainer needs far more text than this: the pieces are written out.
        # Whole words score higher than single characters, which cover the rest.
        words = sorted({w.lower() for line in corpus for w in line.split()})
        chars = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
        vocab = [(token, 0.0) for token in SPECIAL_TOKENS]
        vocab += [("▁" + w, -2.0) for w in words]
        vocab += [(c, -6.0) for c in chars] + [("▁" + c, -6.0) for c in chars]
        vocab += [("▁", -8.0)]
        tokenizer = Tokenizer(models.Unigram(vocab, unk_id=1))
        tokenizer.normalizer = normalizers.Lowercase()
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
        tokenizer.decoder = decoders.Metaspace(prepend_scheme="always")
        trainer = None
    else:
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=600, **special)
    if trainer is not None:
        tokenizer.train_from_iterator(corpus, trainer)
    # [CLS] $A [SEP] (BERT, RoBERTa's <s> $A </s>, BART), or $A [SEP] (T5's $A </s>).
    marks = [("[SEP]", SPECIAL_TOKENS.index("[SEP]"))]
    first = ""
    if MODEL_TYPE not in EOS_ONLY_FAMILIES:
        marks.append(("[CLS]", SPECIAL_TOKENS.index("[CLS]")))
        first = "[CLS] "
    if MODEL_TYPE in DECODER_TEMPLATES:
        single = DECODER_TEMPLATES[MODEL_TYPE]
        pair = f"{single} $B:1"
    else:
        single, pair = f"{first}$A [SEP]", f"{first}$A [SEP] $B:1 [SEP]:1"
    tokenizer.post_processor = processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=marks
    )
    names = {
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
        "bos_token": "[CLS]",
        "eos_token": "[SEP]",
        "model_max_length": MAX_LENGTH,
    }
    if MODEL_TYPE == "roberta":
        from transformers import RobertaTokenizer

        model = json.loads(tokenizer.to_str())["model"]
        # Merges are pairs in recent tokenizers' JSON, "a b" strings in older ones.
        pairs = model["merges"]
        merges = [tuple(m.split() if isinstance(m, str) else m) for m in pairs]
        return RobertaTokenizer(vocab=model["vocab"], merges=merges, **names)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        # Not every architecture takes token_type_ids.
        model_input_names=["input_ids", "attention_mask"],
        **names,
    )


def plant_words(
    model, tokenizer, groups: list[list[str]], seed: int = 0, scale: float = 1.0
) -> None:
    """Give the twin what pretraining gives a real encoder: the first sub-token of every
    word of a group, as it is tokenized in running text, gets a direction of the group's
    own (of length ``scale``) in the input embeddings; other tokens keep their random
    embeddings."""
    import torch

    weight = model.get_input_embeddings().weight
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(len(groups), weight.shape[1], generator=generator)
    if len(groups) <= weight.shape[1]:
        directions = torch.linalg.qr(directions.T)[0].T  # orthonormal
    directions = scale * directions / directions.norm(dim=1, keepdim=True)
    with torch.no_grad():
        for words, direction in zip(groups, directions):
            for word in words:
                encoding = tokenizer(f"the {word}", add_special_tokens=False)
                first = encoding.word_ids().index(1)
                weight[encoding["input_ids"][first]] += direction


def twin_config(tokenizer, **kwargs):
    """The twin's config: families.yaml's sizes, and token ids that fit the tiny
    vocabulary whatever the architecture's defaults (RoBERTa pads with 1, ...)."""
    from transformers import AutoConfig

    return AutoConfig.for_model(
        MODEL_TYPE,
        **TWIN_CONFIG,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **kwargs,
    )


def pretrain_encoder(
    tokenizer,
    texts: list[str],
    targets: list[list[float]],
    *,
    steps: int = 100,
    learning_rate: float = 1e-2,
    batch_size: int = 32,
    seed: int = 0,
    max_prepended: int = 20,
):
    """The twin's base model after a short multi-label pretraining on (texts, targets).

    The loss reads the first position of the last layer through a fixed random
    projection: only the encoder learns, so it must make its features vary strongly with
    what the targets depend on, as a real pretrained encoder's do, and a fresh head on
    top then learns in a few dozen steps even when the encoder stays frozen (freeze,
    prefix, prompt). Every other batch starts with up to ``max_prepended`` random tokens
    before [CLS]: heads read the first position, where prompt tuning puts its virtual
    tokens, and in a real encoder every position carries the sentence, not only [CLS].
    Nothing task-specific is saved: the project starts from a base model, as from a hub
    checkpoint.
    """
    import torch
    from transformers import AutoModel

    torch.manual_seed(seed)
    model = AutoModel.from_config(twin_config(tokenizer))
    hidden_size = model.config.hidden_size
    generator = torch.Generator().manual_seed(seed)
    # Scaled so that features of norm ~sqrt(hidden_size) (after a layer norm) can reach
    # confident logits without extremes.
    probe = torch.randn(hidden_size, len(targets[0]), generator=generator)
    probe *= 3 / hidden_size**0.5
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    # A warm-up keeps the first updates from wrecking the layer norms (the features
    # collapse to one point for some seeds without it).
    warmup = max(1, steps // 6)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup)
    )
    inputs = tokenizer(
        texts,
        padding=True,
        truncation=True,
        max_length=tokenizer.model_max_length,
        return_tensors="pt",
    )
    labels = torch.tensor(targets, dtype=torch.float)
    first_word_id = len(SPECIAL_TOKENS)
    model.train()
    for step in range(steps):
        batch = torch.randint(0, len(texts), (batch_size,), generator=generator)
        input_ids = inputs["input_ids"][batch]
        attention_mask = inputs["attention_mask"][batch]
        if step % 2 and max_prepended:
            n = int(torch.randint(1, max_prepended + 1, (1,), generator=generator))
            words = torch.randint(
                first_word_id, len(tokenizer), (batch_size, n), generator=generator
            )
            input_ids = torch.cat([words, input_ids], dim=1)
            attention_mask = torch.cat([torch.ones_like(words), attention_mask], dim=1)
        hidden = model(input_ids=input_ids, attention_mask=attention_mask)[0]
        logits = hidden[:, 0] @ probe
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels[batch]
        )
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return model


def save_twin(folder: Path, tokenizer, base_model=None) -> Path:
    """Save the twin (``base_model``, else a randomly initialised one) and its tokenizer,
    as a pretrained checkpoint on the hub would be."""
    import torch
    from transformers import AutoModel

    if base_model is None:
        torch.manual_seed(0)
        base_model = AutoModel.from_config(twin_config(tokenizer))
    base_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_anatomy(folder, base_model)
    return folder


def cue_sentences(
    groups: list[list[str]], filler: list[str], n: int, seed: int = 1
) -> tuple[list[str], list[list[float]]]:
    """``n`` texts of filler words with the cue words of one or two groups, and their
    multi-hot group targets: material for pretrain_encoder()."""
    rng = random.Random(seed)
    texts, targets = [], []
    for _ in range(n):
        present = rng.sample(range(len(groups)), min(len(groups), rng.randint(1, 2)))
        words = rng.sample(filler, 4)
        for group in present:
            words += rng.sample(groups[group], 2)
        rng.shuffle(words)
        texts.append(" ".join(words))
        targets.append([float(g in present) for g in range(len(groups))])
    return texts, targets


def after_layers(base_model) -> list[str]:
    """The base model's top-level parts that come after its layers (a pooler, a final
    norm), by registration order, which is the order the forward pass uses."""
    container = LAYERS.split(".")[0]
    names, seen = [], False
    for name, _ in base_model.named_children():
        if seen:
            names.append(name)
        seen = seen or name == container
    return names


def module_names(base_model) -> dict[str, str]:
    """The parameters' names in the model's modules, by their names in its saved
    checkpoint, where they differ: transformers 5 saves some architectures under their
    original checkpoints' names (ViT's encoder.layer.0.attention.attention.query, in
    memory layers.0.attention.q_proj). Found by saving a copy whose every parameter holds
    a number of its own."""
    import copy

    import torch
    from safetensors.torch import load_file

    probe = copy.deepcopy(base_model)
    names = [name for name, _ in probe.named_parameters()]
    with torch.no_grad():
        for i, (_, parameter) in enumerate(probe.named_parameters()):
            parameter.fill_(i + 1)
    with tempfile.TemporaryDirectory() as scratch:
        probe.save_pretrained(scratch)
        saved = load_file(str(Path(scratch) / "model.safetensors"))
    renamed = {}
    for saved_name, tensor in saved.items():
        if not tensor.is_floating_point() or not tensor.numel():
            continue
        number = float(tensor.flatten()[0])
        if (
            number.is_integer()
            and 1 <= number <= len(names)
            and bool((tensor == number).all())
        ):
            name = names[int(number) - 1]
            if name != saved_name:
                renamed[saved_name] = name
    return renamed


def write_anatomy(folder: Path, base_model) -> None:
    """Record beside the twin's weights what the judge needs to know of its architecture
    to compare weights by name without loading a model (tests/test_method.py)."""
    import torch

    def named(kind) -> list[str]:
        return [n for n, m in base_model.named_modules() if isinstance(m, kind)]

    record = {
        "base_model_prefix": base_model.base_model_prefix,
        "linear_modules": named(torch.nn.Linear),
        "conv_modules": named(torch.nn.Conv2d),
        "after_layers": after_layers(base_model),
        "module_names": module_names(base_model),
    }
    (Path(folder) / ANATOMY).write_text(json.dumps(record, indent=1), encoding="utf-8")


def anatomy(twin_dir: Path) -> dict:
    """The twin's base model as save_twin() recorded it: the prefix of its parameters'
    names inside a task model, its nn.Linear modules, its parts after the layers."""
    return json.loads((Path(twin_dir) / ANATOMY).read_text(encoding="utf-8"))


def cached_twin(make: Callable[[Path], Path], scratch: Path, *key: object) -> Path:
    """The twin that ``make(folder)`` saves, built once and shared where SCRIPTGEN_TWIN_CACHE
    names a folder (scriptgen's validation sets it; the code under test can read it, not
    write it), else built in ``scratch``. ``key``: what ``make`` builds from besides this
    file and its own code (its words, labels, seed, helpers of the conftest)."""
    root = os.environ.get("SCRIPTGEN_TWIN_CACHE")
    if not root or not os.path.isdir(root):
        return make(scratch)
    import inspect
    from importlib.metadata import version

    # (Not torch.__version__: a cache hit costs no import of torch.)
    versions = [version("torch"), version("transformers"), version("tokenizers")]
    # This file and make's own code: a change to either builds a new twin.
    source = [Path(__file__).read_text(encoding="utf-8"), inspect.getsource(make)]
    blob = json.dumps([source, list(key), versions], default=str, sort_keys=True)
    folder = Path(root) / hashlib.sha256(blob.encode()).hexdigest()[:32]
    if folder.is_dir():
        return folder
    # One validation builds it; the others wait for it, then read it. Read-only, so that
    # a lock file another user made still serves (flock needs no write access).
    lock = None
    try:
        import fcntl

        lock = os.open(
            Path(root) / f".{folder.name}.lock", os.O_RDONLY | os.O_CREAT, 0o644
        )
        fcntl.flock(lock, fcntl.LOCK_EX)
    except (ImportError, OSError):
        pass  # no lock to be had: two builds may race, harmlessly
    try:
        if not folder.is_dir():
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
            make(staging)
            try:
                os.rename(staging, folder)  # whole or not at all
            except OSError:  # another validation saved it first
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        if lock is not None:
            os.close(lock)
    return folder
