"""The bad-reply corpus: what an LLM really sends back that scriptgen must refuse. Each
reply is recorded in a transcript and served by the `replay:` backend (the same code path
as a live model's reply). Each case ends with exit 1 (the generation failed; the user's
input was fine), one error line saying what was wrong with the reply, no traceback, nothing
written and git untouched.

To add a case, add a row to REPLIES: an id, the reply, and a piece of the error line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scriptgen.backends.reference import ReferenceBackend
from scriptgen.parse import file_block
from scriptgen.plan import make_plan
from scriptgen.prompts import generation_messages
from scriptgen.spec import build_spec

from .conftest import init_repo, run_scriptgen
from .test_bad_input import fingerprint

pytestmark = pytest.mark.slow


def project_reply(**changes: str | None) -> str:
    """The reference project as a model writes it, with files changed (None: left out)."""
    raw, base = build_spec("textclf", model="bert-base", cwd=Path.cwd())
    files = ReferenceBackend().generate(make_plan(raw, base, Path.cwd() / "generated"))
    files = {p: t for p, t in {**files, **changes}.items() if t is not None}
    return "Here it is.\n\n" + "\n".join(file_block(p, t) for p, t in files.items())


def block(path: str, text: str = "print('hi')\n") -> str:
    return f"### {path}\n```python\n{text}```\n"


# (id, reply, a piece of the one error line)
REPLIES: list[tuple[str, str, str]] = [
    ("empty", "", "no fenced block in the reply"),
    (
        "prose-only",
        "Sure! A text classifier needs data and a model.",
        "no fenced block",
    ),
    ("absolute-path", block("/etc/cron.d/job"), "no usable file in the reply"),
    ("escaping-path", block("../../evil.py"), "no usable file in the reply"),
    ("escaping-through-tests", block("tests/../../evil.py"), "no usable file"),
    ("home-path", block("~/.bashrc"), "no usable file in the reply"),
    ("not-a-code-file", block("tests/conftest.py"), "no usable file in the reply"),
    ("binary-junk", "\x00\x01\ufffd\x7f\x1b[31m" * 200, "no fenced block in the reply"),
    ("unclosed-fence", "### train.py\n```python\nimport os\n", "train.py"),
    ("a-file-missing", project_reply(**{"predict.py": None}), "predict.py"),
    ("syntax-error", project_reply(**{"data.py": "def broken(:\n"}), "data.py"),
    ("nul-in-code", project_reply(**{"model.py": "x = '\x00'\n"}), "model.py"),
]


@pytest.fixture()
def repo_with_reply(tmp_path: Path):
    def make(reply: str) -> tuple[Path, Path]:
        root = init_repo(tmp_path / "repo")
        raw, base = build_spec("textclf", model="bert-base", cwd=root)
        messages = generation_messages(make_plan(raw, base, root / "generated"))
        transcript = tmp_path / "transcript.jsonl"
        entry = {"kind": "generate", "messages": messages, "reply": reply}
        transcript.write_text(json.dumps(entry) + "\n", encoding="utf-8")
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
        "--max-repairs", "0", "--no-validate", cwd=root,
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
