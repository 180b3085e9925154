"""Throughput of the hf backend against a bare ``model.generate`` loop, same model, same settings.

Both sides tokenize with the chat template, generate greedily and decode; the bare side is the
least code that does it. Batch 1 runs the prompts one by one (the backend's ``chat``); batch 8
runs them in one left-padded ``generate`` (the backend's ``generate_batch``). Both must produce
the same texts; the ratio is tokens/s of the backend over tokens/s of the bare loop (1.0 means
no overhead). Rounds alternate so that machine noise hits both alike.

    python bench/bench_hf.py [--model HUB_ID|FOLDER|FILE.gguf] [--max-new-tokens 64] [--rounds 3]

Without ``--model`` it builds a tiny random-weight twin offline (as tests/test_hf_backend.py
does), so it runs on a CPU; on a GPU pass a real code model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scriptgen.backends.hf_chat import hf_chat  # noqa: E402

REQUESTS = [
    "Write a Python function that adds two numbers.",
    "Write a PyTorch training loop for a text classifier.",
    "Write a function that reads a CSV file into a list of dicts.",
    "Write argparse code for --model_name_or_path and --output_dir.",
    "Write a function that computes accuracy from logits and labels.",
    "Write a Dataset class that tokenizes texts with a tokenizer.",
    "Write a predict function that loads a saved model and classifies a text.",
    "Write a function that saves a dict as JSON to eval_results.json.",
]


def conversations() -> list[list[dict[str, str]]]:
    return [
        [
            {"role": "system", "content": "You write concise, correct Python."},
            {"role": "user", "content": text},
        ]
        for text in REQUESTS
    ]


def bare(model: Any, tokenizer: Any, batch: list[Any], max_new: int) -> list[str]:
    import torch

    tokenizer.padding_side = "left"
    inputs = tokenizer.apply_chat_template(
        batch,
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
        padding=True,
    ).to(model.device)
    with torch.inference_mode():
        out = model.generate(
            **inputs,
            max_new_tokens=max_new,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[:, inputs["input_ids"].shape[1] :]
    return [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="hub id, folder or .gguf (default: tiny twin)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    model_ref = args.model
    if model_ref is None:
        from tests.test_hf_backend import build_tiny_chat_model

        model_ref = str(build_tiny_chat_model(Path(tmp.name) / "tiny-chat"))
    chat = hf_chat(model_ref)
    model, tokenizer = chat.load()  # the bare loop uses the very same weights
    decoding = {"temperature": 0.0, "max_new_tokens": args.max_new_tokens}
    convs = conversations()

    def backend_run(size: int) -> tuple[list[str], int]:
        if size == 1:
            replies = [chat(conv, decoding) for conv in convs]
        else:
            replies = [
                reply
                for i in range(0, len(convs), size)
                for reply in chat.generate_batch(convs[i : i + size], decoding)
            ]
        return [r.text.strip() for r in replies], sum(
            r.completion_tokens or 0 for r in replies
        )

    def bare_run(size: int) -> list[str]:
        texts: list[str] = []
        for i in range(0, len(convs), size):
            texts += bare(model, tokenizer, convs[i : i + size], args.max_new_tokens)
        return texts

    results: dict[str, Any] = {
        "model": args.model or "tiny twin",
        "device": str(model.device),
    }
    for size in (1, 8):
        backend_run(size), bare_run(size)  # warm-up
        ours, theirs = [], []
        tokens = 0
        for _ in range(args.rounds):
            seconds, (texts, tokens) = timed(lambda: backend_run(size))
            ours.append(seconds)
            seconds, bare_texts = timed(lambda: bare_run(size))
            theirs.append(seconds)
            if texts != bare_texts:
                sys.exit(f"batch {size}: the backend and the bare loop disagree")
        backend_tps = tokens / statistics.median(ours)
        bare_tps = tokens / statistics.median(theirs)
        results[f"batch{size}"] = {
            "tokens": tokens,
            "backend_tokens_per_s": round(backend_tps, 1),
            "bare_tokens_per_s": round(bare_tps, 1),
            "ratio": round(backend_tps / bare_tps, 3),
        }
    print(json.dumps(results, indent=2))
    tmp.cleanup()


if __name__ == "__main__":
    main()
