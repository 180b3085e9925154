"""How much code each generated project hands its user, beside the Hugging Face example
script(s) that do the same job.

For every task: its `full` project and one project of a peft method (where the task has
one), for the task's default model, rendered by the reference backend (what `scriptgen new
TASK --model M --no-validate` writes). It counts the characters and lines of the project's
code files (the modules a user owns: data, model, train, predict, ...; not config, README,
requirements or tests) and divides by the characters of the HF example(s).

The goal (the roadmap's "code a person would own"): a `full` project at most 1.0x its
example, a peft project at most 1.15x. Rows over it are marked, with their characters by
file (--definitions: by each file's top-level definition too, the rest of the file, its
docstring and imports, as "(module)"); the exit code is 0 either way unless --strict.

    python bench/bench_code_size.py [--json] [--strict] [--definitions]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import tempfile
from pathlib import Path

# The examples' sizes in characters, as stored at these commits of huggingface/transformers
# (examples/pytorch/...). Their check_min_version(): run_glue.py and
# run_image_classification.py 5.1.0 (the v5.1.0 release's copies: the 4.20 ones this
# table held before still called datasets.load_metric, which transformers 5's datasets no
# longer has), run_ner.py and run_audio_classification.py 5.8.0, run_qa.py 4.55.0.dev0
# (utils_qa.py and trainer_qa.py beside it), run_summarization.py 4.52.0.dev0, run_clm.py
# 4.57.0.dev0.
EXAMPLES: dict[str, list[tuple[str, int, str]]] = {
    "textclf": [("text-classification/run_glue.py", 27_411, "v5.1.0")],
    "tokclf": [("token-classification/run_ner.py", 26_532, "049d2bf")],
    "qa": [
        ("question-answering/run_qa.py", 32_931, "03ea97a"),
        ("question-answering/utils_qa.py", 22_088, "31f57e9"),
        ("question-answering/trainer_qa.py", 3_979, "0ac5464"),
    ],
    "seq2seq": [("summarization/run_summarization.py", 33_179, "00e6a18")],
    "clm": [("language-modeling/run_clm.py", 30_345, "00d481d")],
    "imgclf": [("image-classification/run_image_classification.py", 16_704, "v5.1.0")],
    "audioclf": [
        ("audio-classification/run_audio_classification.py", 15_829, "049d2bf")
    ],
}
FULL_GOAL, PEFT_GOAL = 1.0, 1.15
# The settings a peft project of the task needs beside the method (clm: LoRA on chat data).
PEFT_SETS = {"clm": ["data.kind=chat"]}
# Other projects of a task that render other code, each as its full and its peft project.
VARIANTS = {"textclf": [("multi-label", ("data.multi_label=true",))]}


def code_size(
    task: str, method: str, out: Path, extra: tuple[str, ...] = ()
) -> tuple[int, int, dict[str, str]]:
    """(characters, lines, {file: text}) of the code files of TASK's project with
    METHOD (and the EXTRA spec settings)."""
    from scriptgen.backends.reference import ReferenceBackend
    from scriptgen.manifests import get_manifest
    from scriptgen.planning import make_plan
    from scriptgen.spec import build_spec

    manifest = get_manifest(task)
    sets = [f"training.method={method}", *extra] + (
        PEFT_SETS.get(task, []) if method != "full" else []
    )
    raw, base = build_spec(task, model=manifest.default_model, sets=sets, cwd=out)
    plan = make_plan(raw, base, out / "generated")
    code = {f.path for f in plan.manifest.code_files}
    files = {p: t for p, t in ReferenceBackend().generate(plan).items() if p in code}
    return (sum(map(len, files.values())),
            sum(t.count("\n") for t in files.values()),
            dict(sorted(files.items())))  # fmt: skip


def definitions(text: str) -> dict[str, int]:
    """The characters of each top-level function, class and assignment of a module, the
    largest first, and of the rest ("(module)": docstring, imports, blank lines)."""
    lines = text.splitlines(keepends=True)
    sizes = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            name = ast.unparse(getattr(node, "target", None) or node.targets[0])
        else:
            continue
        start = min(
            [node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]
        )
        sizes[name] = len("".join(lines[start - 1 : node.end_lineno]))
    sizes = dict(sorted(sizes.items(), key=lambda item: -item[1]))
    return {**sizes, "(module)": len(text) - sum(sizes.values())}


def peft_method(task: str) -> str | None:
    from scriptgen.manifests import get_manifest

    methods = get_manifest(task).methods
    return next((m for m in ("lora", "ia3", "prefix") if m in methods), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a row is over"
    )
    parser.add_argument(
        "--definitions",
        action="store_true",
        help="an over row's characters by each file's top-level definition",
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task, examples in EXAMPLES.items():
            example = sum(size for _, size, _ in examples)
            projects = [
                (variant, extra, method, goal)
                for variant, extra in [("", ()), *VARIANTS.get(task, [])]
                for method, goal in (
                    ("full", FULL_GOAL),
                    (peft_method(task), PEFT_GOAL),
                )
                if method is not None
            ]
            for variant, extra, method, goal in projects:
                chars, lines, texts = code_size(task, method, Path(tmp), extra)
                by_file = {path: len(text) for path, text in texts.items()}
                rows.append({
                    "task": " ".join(filter(None, [task, variant])), "method": method,
                    "chars": chars, "lines": lines,
                    "files": len(by_file), "by_file": by_file, "example_chars": example,
                    "example": " + ".join(Path(p).name for p, _, _ in examples),
                    "ratio": round(chars / example, 3), "goal": goal,
                    "definitions": {p: definitions(t) for p, t in texts.items()},
                })  # fmt: skip
    # Over the goal by a single character is over: the exact ratio, not the rounded one.
    over = [r for r in rows if r["chars"] > r["goal"] * r["example_chars"]]
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(f"{'project':25} {'code chars':>10} {'lines':>6} {'files':>5}  "
              f"{'HF example':>10}  ratio  goal")  # fmt: skip
        for r in rows:
            mark = "  over" if r in over else ""
            print(f"{r['task'] + ' ' + r['method']:25} {r['chars']:>10,} {r['lines']:>6} "
                  f"{r['files']:>5}  {r['example_chars']:>10,} {r['ratio']:5.3f}x "
                  f"{r['goal']:4.2f}x{mark}  ({r['example']})")  # fmt: skip
            if mark:  # where an over row's characters are
                print(
                    " " * 27 + ", ".join(f"{p} {n:,}" for p, n in r["by_file"].items())
                )
            if mark and args.definitions:  # and within each file
                for path, sizes in r["definitions"].items():
                    named = ", ".join(f"{n} {c:,}" for n, c in sizes.items())
                    print(" " * 29 + f"{path}: {named}")
        print(f"{len(rows) - len(over)} of {len(rows)} projects within the goal")
    return 1 if args.strict and over else 0


if __name__ == "__main__":
    sys.exit(main())
