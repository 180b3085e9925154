"""The bad-reply corpus: what an LLM really sends back that scriptgen must refuse. The
request is a requirement's edit request (after a settings reply that leaves it to the
code); each reply is recorded in a transcript and served by the `replay:` backend (the
same code path as a live model's reply). Each case ends with exit 1 (the generation
failed; the user's input was fine), one error line saying what was wrong with the reply,
no traceback, nothing written and git untouched.

To add a case, add a row to REPLIES: an id, the reply, and a piece of the error line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import init_repo, run_scriptgen
from .llm_replies import change_plan, edit, recorded_transcript, settings_reply
from .test_bad_input import fingerprint

pytestmark = pytest.mark.slow

REQUIREMENT = "log the number of training examples before training"
TRAIN_LINE = "    train_result = trainer.train(resume_from_checkpoint=resume)\n"
CHANGED = "the reply changed nothing"


def block(path: str, text: str = "print('hi')\n") -> str:
    return f"### {path}\n```python\n{text}```\n"


# (id, reply, a piece of the one error line)
REPLIES: list[tuple[str, str, str]] = [
    ("empty", "", CHANGED),
    ("prose-only", "Sure! Log it with the logging module.", CHANGED),
    ("binary-junk", "\x00\x01\ufffd\x7f\x1b[31m" * 200, CHANGED),
    ("absolute-path", edit("/etc/cron.d/job", "", "* * * * * root sh\n"), "refused"),
    ("escaping-path", edit("../../evil.py", "", "x = 1\n"), "refused"),
    ("home-path", edit("~/.bashrc", "", "x = 1\n"), "refused"),
    (
        "the-judge",
        edit(".scriptgen/judge/test_contract.py", "", "def test_ok(): pass\n"),
        "refused: scriptgen's own files",
    ),
    ("a-setting-by-hand", edit("config.yaml", "seed: 42\n", "seed: 1\n"), "refused"),
    ("whole-file-outside", block("tests/../../evil.py"), "no usable file"),
    ("unclosed-search", "train.py\n<<<<<<< SEARCH\n" + TRAIN_LINE, "without its ======="),
    # No path line, and lines that stand in no file: nowhere to apply them.
    ("no-path", "<<<<<<< SEARCH\n    trainer.fit()\n=======\n    trainer.train()\n>>>>>>> REPLACE\n",
     "names no file"),  # fmt: skip
    (
        "matches-nothing",
        edit("train.py", "    trainer.fit()\n", "    trainer.train()\n"),
        "match nothing",
    ),
    ("matches-twice", edit("data.py", "    label_column: str,\n", "    label_column: int,\n"),
     "places"),  # fmt: skip
    ("no-such-file", edit("helpers.py", "x = 1\n", "x = 2\n"), "no such file"),
    ("syntax-error", edit("train.py", TRAIN_LINE, "    train_result = (\n"), "train.py"),
    ("nul-in-code", edit("model.py", "import torch\n", "import torch\nx = '\x00'\n"),
     "model.py"),  # fmt: skip
]


@pytest.fixture()
def repo_with_reply(tmp_path: Path):
    def make(reply: str) -> tuple[Path, Path]:
        root = init_repo(tmp_path / "repo")
        plan = change_plan(root, [REQUIREMENT])
        transcript = tmp_path / "transcript.jsonl"
        text = recorded_transcript(plan, [settings_reply(REQUIREMENT), reply])
        transcript.write_text(text, encoding="utf-8")
        return root, transcript

    return make


@pytest.mark.parametrize(
    ("reply", "says"), [r[1:] for r in REPLIES], ids=[r[0] for r in REPLIES]
)
def test_a_bad_reply_is_refused_in_one_line_and_nothing_is_written(
    repo_with_reply, reply: str, says: str
) -> None:
    root, transcript = repo_with_reply(reply)
    before = fingerprint(root)
    result = run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--llm", f"replay:{transcript}",
        "--require", REQUIREMENT, "--max-repairs", "0", "--no-validate", cwd=root,
    )  # fmt: skip
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("scriptgen:")]
    assert result.returncode == 1, result.stderr
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in errors[0]
    assert says in result.stderr, f"{says!r} not in:\n{result.stderr}"
    assert fingerprint(root) == before, "something was written"


def test_the_reply_corpus_ids_are_unique() -> None:
    ids = [r[0] for r in REPLIES]
    assert len(ids) >= 10 and len(set(ids)) == len(ids)


def test_a_block_without_its_path_lands_where_its_lines_stand(repo_with_reply) -> None:
    """Not a bad reply after all: Qwen2.5-Coder-1.5B's shape, a word where the path goes
    and a file it quoted from named wrong in a second block, lands both edits in train.py,
    the one file that holds their lines."""
    logged = '    logger.info("training on %d examples", len(tokenized["train"]))\n'
    reply = (
        "SEARCH/REPLACE\n\n```python\n<<<<<<< SEARCH\n"
        f"{TRAIN_LINE}=======\n{logged}{TRAIN_LINE}>>>>>>> REPLACE\n```\n\n"
        + edit("model.py", "    trainer.save_metrics(\"train\", train_result.metrics)\n",
               "    trainer.save_metrics(\"train\", train_result.metrics)  # all of them\n")
    )  # fmt: skip
    root, transcript = repo_with_reply(reply)
    result = run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--llm", f"replay:{transcript}",
        "--require", REQUIREMENT, "--max-repairs", "0", "--no-validate", cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    train = (root / "generated" / "textclf-bert-base" / "train.py").read_text()
    assert logged + TRAIN_LINE in train
    assert "train_result.metrics)  # all of them\n" in train
