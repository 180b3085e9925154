from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from scriptgen.parse import choose_fence, file_block, parse_reply

CASES = Path(__file__).parent / "data" / "parse"
# The manifest's code files, shared by every golden case.
ALLOWED = frozenset({"data.py", "model.py", "train.py", "predict.py", "utils/io.py"})


def _case_names() -> list[str]:
    return sorted(p.stem for p in CASES.glob("*.txt"))


@pytest.mark.parametrize("case", _case_names())
def test_golden(case: str) -> None:
    # Bytes, not read_text(): universal newlines would hide the CRLF case.
    reply = (CASES / f"{case}.txt").read_bytes().decode("utf-8")
    expected = json.loads((CASES / f"{case}.expected.json").read_text("utf-8"))
    parsed = parse_reply(reply, ALLOWED)
    assert parsed.files == expected["files"]
    assert parsed.problems == expected["problems"]


def test_every_case_has_expectations() -> None:
    assert len(_case_names()) >= 13
    for case in _case_names():
        assert (CASES / f"{case}.expected.json").is_file(), case


def test_crlf_case_really_has_crlf() -> None:
    assert b"\r\n" in (CASES / "crlf.txt").read_bytes()


@pytest.mark.parametrize(
    ("text", "fence"),
    [
        ("x = 1\n", "```"),
        ("s = '``'\n", "```"),  # a run inside a line cannot close a fence
        ("```\n", "````"),
        ("   ````python\n", "`````"),
        ("~~~\n", "```"),  # a tilde run never closes a backtick fence
    ],
)
def test_choose_fence(text: str, fence: str) -> None:
    assert choose_fence(text) == fence


def test_file_block_format() -> None:
    assert file_block("train.py", "x = 1\n") == "### train.py\n```python\nx = 1\n```\n"
    assert file_block("config.yaml", "a: 1") == "### config.yaml\n```yaml\na: 1\n```\n"


def test_empty_file_and_no_language() -> None:
    parsed = parse_reply("### train.py\n```\n```\n", ALLOWED)
    assert parsed.files == {"train.py": "\n"}


def _random_text(rng: random.Random) -> str:
    pieces = ["x = 1", "", "    ", "`", "``", "```", "````python", "~~~", "# train.py"]
    pieces += ['"""', "```python", "  ```", "      ```", "````` ", "a ``` b", "\t```"]
    lines = [rng.choice(pieces) for _ in range(rng.randint(1, 12))]
    return "\n".join(lines).rstrip("\n") + "\n"


@pytest.mark.parametrize("seed", range(200))
def test_roundtrip(seed: int) -> None:
    rng = random.Random(seed)
    text = _random_text(rng)
    path = rng.choice(sorted(ALLOWED))
    assert parse_reply(file_block(path, text), ALLOWED).files == {path: text}


def test_roundtrip_of_several_blocks_with_prose() -> None:
    files = {"data.py": "```\n````\n", "train.py": '"""\n```python\nx\n```\n"""\n'}
    reply = "Here you go.\n\n" + "\nAnd:\n\n".join(
        file_block(p, t) for p, t in files.items()
    )
    assert parse_reply(reply, ALLOWED).files == files
    assert parse_reply(reply, ALLOWED).problems == []
