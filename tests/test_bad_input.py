"""The bad-input corpus: each case is one way a user, a template author or a hand edit gets
scriptgen's input wrong. Every case must end with exit code 2, one line on stderr naming
the file, key or value at fault, no traceback, nothing written and git untouched.

To add a case, add a row to CASES: an id, the command line, the files to lay out first
(text, bytes, or one of the markers below), and a piece of the message it must print.
Rows that need a generated project ("project/..." paths) get a copy of one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

from .conftest import REPO, git, init_repo, run_scriptgen

FIFO = object()  # a named pipe: reading it would block
DIR = object()  # a directory where a file is expected
LOOP = object()  # a symlink that points at itself

NEW = ("new", "textclf", "--model", "bert-base", "--no-validate")


def BOMB(
    levels: int, flow: bool = False
) -> str:  # noqa: N802 (reads as the constant it makes)
    """A YAML document of ``levels`` nested aliases, nine wide (about 40 bytes a level)."""
    names = "abcdefghij"[: levels + 1]
    parts = ["&a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    parts += [f"&{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip(names, names[1:])]
    if flow:
        return "[" + ", ".join(parts) + "]"
    return (
        "".join(f"k{i}: {p}\n" for i, p in enumerate(parts))
        + f"requirements: *{names[-1]}\n"
    )


PROJECT = "generated/textclf-bert-base"

# (id, argv, files, a piece of the one stderr line)
CASES: list[tuple[str, tuple[str, ...], Mapping[str, object], str]] = [
    # --- flags ---------------------------------------------------------------------------
    ("unknown-task", ("new", "nosuch", "--model", "bert-base"), {}, "nosuch"),
    (
        "unknown-model",
        ("new", "textclf", "--model", "no-such-model"),
        {},
        "no-such-model",
    ),
    ("set-without-equals", (*NEW, "--set", "training.epochs"), {}, "training.epochs"),
    # click gives no command for an option without its value: the hint names it anyway.
    ("option-without-value", ("prompt", "textclf", "--require"), {}, "see `scriptgen prompt --help`"),  # fmt: skip
    ("set-wrong-type", (*NEW, "--set", "training.epochs=many"), {}, "training.epochs"),
    (
        "set-negative-lr",
        (*NEW, "--set", "training.learning_rate=-1"),
        {},
        "learning_rate",
    ),
    ("set-unknown-method", (*NEW, "--set", "training.method=magic"), {}, "magic"),
    ("set-unknown-data-key", (*NEW, "--set", "data.tags_column=x"), {}, "tags_column"),
    ("set-unknown-section", (*NEW, "--set", "optimizer.lr=1"), {}, "optimizer"),
    ("name-dot-dot", (*NEW, "--name", ".."), {}, "name"),
    ("name-slash", (*NEW, "--name", "a/b"), {}, "name"),
    ("name-control-char", (*NEW, "--name", "a\tb"), {}, "name"),
    ("name-reserved", (*NEW, "--name", "CON"), {}, "Windows reserves"),
    ("name-too-long", (*NEW, "--name", "a" * 200), {}, "name"),
    ("memory-limit-junk", (*NEW, "--memory-limit", "lots"), {}, "lots"),
    ("method-unsupported-by-task", ("new", "tokclf", "--model", "bert-base",
                                    "--set", "training.method=prompt"), {}, "prompt"),  # fmt: skip
    ("llm-unknown-scheme", (*NEW, "--llm", "telepathy:x"), {}, "telepathy"),
    # transformers checkpoints no ResNet activations: refused before any validation.
    ("checkpointing-unsupported-by-family", ("new", "imgclf", "--model", "resnet-50",
     "--set", "training.gradient_checkpointing=true"), {}, "cannot checkpoint resnet"),  # fmt: skip
    ("checkpointing-with-prefix-tuning", (*NEW, "--set", "training.method=prefix",
     "--set", "training.gradient_checkpointing=true"), {}, "prefix tuning"),  # fmt: skip
    # A CSV file cannot hold conversations (lists of messages).
    ("chat-data-in-csv", ("new", "clm", "--model", "smollm2-135m", "--set", "data.kind=chat",
                          "--set", "data.train=train.csv"), {"train.csv": "text\nhi\n"},
     "csv cannot hold the data of kind: chat"),  # fmt: skip
    # LoRA on packed plain text: clm offers it for chat data only.
    # A folder per label without its label folders; an image where a data file belongs.
    ("image-folder-without-label-folders", ("new", "imgclf", "--model", "vit-base",
     "--set", "data.train=pics"), {"pics/cat.png": b"\x89PNG"},
     "one sub-folder per label"),  # fmt: skip
    ("an-image-as-the-data-file", ("new", "imgclf", "--model", "vit-base",
     "--set", "data.train=cat.png"), {"cat.png": b"\x89PNG"},
     "cannot tell the data format"),  # fmt: skip
    ("audio-folder-for-images", ("new", "imgclf", "--model", "vit-base",
     "--set", "data.format=audiofolder", "--set", "data.train=clips"),
     {"clips/yes/a.wav": b"RIFF"}, "audiofolder"),  # fmt: skip
    # --- the prompt baseline --------------------------------------------------------------
    ("baseline-for-a-task-without-one", ("new", "clm", "--model", "smollm2-135m",
     "--baseline"), {}, "clm has no prompt baseline yet"),  # fmt: skip
    ("baseline-llm-junk", (*NEW, "--baseline", "not a model"), {}, "'not a model'"),
    (
        "baseline-llm-missing-folder",
        (*NEW, "--baseline", "/no/such/llm"),
        {},
        "/no/such/llm",
    ),
    (
        "baseline-openai-without-url",
        (*NEW, "--baseline", "openai:gpu-box"),
        {},
        "base URL",
    ),
    ("baseline-shots-negative", (*NEW, "--baseline", "--set", "baseline.shots=-1"), {},
     "baseline.shots"),  # fmt: skip
    (
        "baseline-shots-junk",
        (*NEW, "--set", "baseline.shots=\xff\x1b[2J"),
        {},
        "baseline.shots",
    ),
    ("baseline-not-a-mapping", (*NEW, "--spec", "s.yaml"), {"s.yaml": "baseline: [1, 2]\n"},
     "baseline"),  # fmt: skip
    ("baseline-unknown-key", (*NEW, "--spec", "s.yaml"),
     {"s.yaml": "baseline:\n  llm: qwen2.5-1.5b-instruct\n  temperature: 2\n"},
     "baseline.temperature"),  # fmt: skip
    # --- spec files ----------------------------------------------------------------------
    ("spec-missing", (*NEW, "--spec", "nope.yaml"), {}, "nope.yaml"),
    ("no-task-anywhere", ("new", "--spec", "s.yaml", "--no-validate"), {"s.yaml": "model: bert-base\n"}, "s.yaml names none; give it as TASK"),  # fmt: skip
    (
        "spec-binary",
        (*NEW, "--spec", "s.yaml"),
        {"s.yaml": b"\x00\xff\xfe\x81junk"},
        "s.yaml",
    ),
    (
        "spec-huge",
        (*NEW, "--spec", "s.yaml"),
        {"s.yaml": "# " + "x" * (2 << 20)},
        "bytes",
    ),
    ("spec-deep", (*NEW, "--spec", "s.yaml"), {"s.yaml": "a: " + "[" * 5000 + "]" * 5000}, "nested too deeply"),  # fmt: skip
    # "Billion laughs": nested aliases load at once as shared lists and expand only when
    # walked (nine levels: 9**9 elements); five levels were 59,049 elements echoed whole.
    (
        "spec-alias-bomb",
        (*NEW, "--spec", "s.yaml"),
        {"s.yaml": BOMB(9)},
        "aliases expanded",
    ),
    (
        "spec-alias-bomb-5",
        (*NEW, "--spec", "s.yaml"),
        {"s.yaml": BOMB(5)},
        "aliases expanded",
    ),
    ("set-alias-bomb", (*NEW, "--set", "requirements=" + BOMB(6, flow=True)), {},
     "aliases expanded"),  # fmt: skip
    # A long value is shown by its first characters only.
    ("spec-long-value", (*NEW, "--spec", "s.yaml"), {"s.yaml": "training:\n  epochs: "
     + "x" * 5000 + "\n"}, "(got 'xxxxxxxx"),  # fmt: skip
    ("spec-long-requirement-list", (*NEW, "--spec", "s.yaml"),
     {"s.yaml": "requirements: " + str([[i] for i in range(3000)]) + "\n"}, "requirements"),  # fmt: skip
    ("spec-directory", (*NEW, "--spec", "s.yaml"), {"s.yaml": DIR}, "s.yaml"),
    ("spec-fifo", (*NEW, "--spec", "s.yaml"), {"s.yaml": FIFO}, "not a regular file"),
    ("spec-symlink-loop", (*NEW, "--spec", "s.yaml"), {"s.yaml": LOOP}, "s.yaml"),
    (
        "spec-malformed",
        (*NEW, "--spec", "s.yaml"),
        {"s.yaml": "training: [1,\n"},
        "s.yaml:",
    ),
    ("spec-a-list", (*NEW, "--spec", "s.yaml"), {"s.yaml": "- 1\n- 2\n"}, "mapping"),
    (
        "spec-unknown-key",
        (*NEW, "--spec", "s.yaml"),
        {"s.yaml": "colour: red\n"},
        "colour",
    ),
    ("spec-training-not-a-mapping", (*NEW, "--spec", "s.yaml"), {"s.yaml": "training: 5\n"}, "training"),  # fmt: skip
    ("spec-epochs-out-of-range", (*NEW, "--spec", "s.yaml"), {"s.yaml": "training:\n  epochs: 0\n"}, "epochs"),  # fmt: skip
    ("spec-option-of-another-method", (*NEW, "--spec", "s.yaml"), {"s.yaml": "training:\n  method: prefix\n  lora:\n    r: 4\n"}, "training.lora is an option of method lora / qlora, not of prefix"),  # fmt: skip
    ("set-option-of-another-method", (*NEW, "--set", "training.unfreeze_layers=2"), {}, "training.unfreeze_layers is an option of method freeze"),  # fmt: skip
    ("spec-labels-repeat", (*NEW, "--spec", "s.yaml"), {"s.yaml": "data:\n  labels: [a, a]\n"}, "labels"),  # fmt: skip
    ("spec-one-label", (*NEW, "--spec", "s.yaml"), {"s.yaml": "data:\n  labels: [a]\n"}, "labels"),  # fmt: skip
    ("spec-data-file-missing", (*NEW, "--spec", "s.yaml"), {"s.yaml": "data:\n  train: gone.csv\n"}, "gone.csv"),  # fmt: skip
    ("spec-data-file-a-directory", (*NEW, "--spec", "s.yaml"), {"s.yaml": "data:\n  train: d.csv\n", "d.csv": DIR}, "d.csv"),  # fmt: skip
    ("spec-format-not-the-tasks", ("new", "tokclf", "--model", "bert-base", "--spec", "s.yaml"),
     {"s.yaml": "data:\n  format: csv\n  train: t.csv\n", "t.csv": "a,b\n"}, "csv"),  # fmt: skip
    # --- template data files (SCRIPTGEN_TEMPLATES) ---------------------------------------
    ("manifest-malformed", NEW, {"templates/textclf/manifest.yaml": "name: [textclf\n"}, "manifest.yaml"),  # fmt: skip
    ("manifest-binary", NEW, {"templates/textclf/manifest.yaml": b"\xff\x00\xfe"}, "manifest.yaml"),  # fmt: skip
    ("models-yaml-missing-key", NEW, {"templates/_common/models.yaml": "bert-base:\n  model_type: bert\n"}, "models.yaml"),  # fmt: skip
    ("families-yaml-a-list", NEW, {"templates/_common/families.yaml": "- bert\n"}, "families.yaml"),  # fmt: skip
    # --- a project's own files, edited by hand -------------------------------------------
    # --- plan ---------------------------------------------------------------------------------
    # (A local model folder: plan reads its config before the data.)
    ("plan-json-lines-with-junk", ("plan", "textclf", "--model", "m", "--set",
     "data.train=t.jsonl"), {"m/config.json": '{"model_type": "bert"}',
     "t.jsonl": '{"text": "a", "label": "x"}\nnot json\n'},
     "t.jsonl: line 2 is not JSON"),  # fmt: skip
    ("plan-binary-data-file", ("plan", "textclf", "--model", "m", "--set",
     "data.train=t.jsonl"), {"m/config.json": '{"model_type": "bert"}',
     "t.jsonl": b"\x00\xff\xfe"}, "t.jsonl: line 1 is not JSON"),  # fmt: skip
    # A spec file that is not there is named as one, not as an unknown task.
    ("plan-spec-file-missing", ("plan", "specs/nope.yaml"), {}, "no such spec file: specs/nope.yaml"),  # fmt: skip
    # --- compare ----------------------------------------------------------------------------
    ("compare-no-such-folder", ("compare", "nope"), {}, "nope"),
    (
        "compare-not-a-project",
        ("compare", "."),
        {"config.yaml": "output_dir: out\n"},
        "lock.json",
    ),
    ("compare-before-training", ("compare", PROJECT), {f"{PROJECT}/outputs/x": ""},
     "run `python train.py` first"),  # fmt: skip
    ("compare-results-binary", ("compare", PROJECT),
     {f"{PROJECT}/outputs/eval_results.json": b"\xff\x00junk"}, "not a JSON results file"),  # fmt: skip
    ("compare-results-not-numbers", ("compare", PROJECT),
     {f"{PROJECT}/outputs/eval_results.json": '{"eval_accuracy": 0.9}',
      f"{PROJECT}/outputs/train_results.json": '{"train_runtime": "long"}',
      f"{PROJECT}/outputs/baseline_results.json": '{"eval_accuracy": 0.5}'},
     "train_runtime"),  # fmt: skip
    ("compare-without-baseline", ("compare", PROJECT),
     {f"{PROJECT}/outputs/eval_results.json": '{"eval_accuracy": 0.9}',
      f"{PROJECT}/outputs/train_results.json": '{"train_runtime": 10}'},
     "run `python baseline.py` first"),  # fmt: skip
    ("regen-folder-missing", ("regen", "--check", "nowhere"), {}, "nowhere"),
    ("validate-folder-missing", ("validate", "nowhere"), {}, "nowhere"),
    ("validate-unknown-task", ("validate", ".", "--task", "nosuch"), {}, "nosuch"),
    ("judge-not-a-project", ("judge", "."), {}, "pass --task for a hand-written project"),  # fmt: skip
]


def lay_out(root: Path, files: Mapping[str, object]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is FIFO:
            os.mkfifo(path)
        elif content is DIR:
            path.mkdir(exist_ok=True)
        elif content is LOOP:
            path.symlink_to(path.name)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content), encoding="utf-8")


def fingerprint(root: Path) -> dict[str, str]:
    """Every file under ``root`` (git's own included) by content; FIFOs by name only."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink() or path.is_fifo():
            out[rel] = "special"
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            out[rel] = "dir"
    return out


@pytest.fixture(scope="module")
def project_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository holding one generated, committed textclf project."""
    root = init_repo(tmp_path_factory.mktemp("corpus") / "repo")
    result = run_scriptgen(*NEW, cwd=root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.mark.parametrize(
    ("argv", "files", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, project_repo: Path, argv: tuple[str, ...], files: Mapping[str, object], says: str
) -> None:  # fmt: skip
    root = tmp_path / "repo"
    if any(rel.startswith("generated/") for rel in files):
        shutil.copytree(project_repo, root, symlinks=True)
    else:
        init_repo(root)
    env = {}
    if any(rel.startswith("templates/") for rel in files):
        shutil.copytree(REPO / "templates", root / "templates")
        env["SCRIPTGEN_TEMPLATES"] = str(root / "templates")
        git(root, "add", "templates")
        git(root, "commit", "-q", "-m", "templates")
    lay_out(root, files)
    before = fingerprint(root)

    result = run_scriptgen(*argv, cwd=root, env=env)

    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == 2, f"exit {result.returncode}:\n{result.stderr}"
    assert len(lines) == 1, f"not one line:\n{result.stderr}"
    assert "Traceback" not in result.stderr and "internal error" not in lines[0]
    assert says in lines[0], f"{says!r} not in {lines[0]!r}"
    assert len(lines[0]) < 400, f"not a short line: {len(lines[0])} characters"
    assert fingerprint(root) == before, "something was written"


def test_the_corpus_is_large_and_its_ids_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
