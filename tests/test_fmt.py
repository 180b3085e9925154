from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen import fmt
from scriptgen.checks import Finding
from scriptgen.fmt import FormatError, format_files, format_python

MESSY = """\
import torch
import sys,os
from model import build_model
from data import LABELS
def main( argv = None ):
    x = {  'labels':LABELS, "model" : build_model('bert') }
    return x
"""

TIDY = """\
import os
import sys

import torch

from data import LABELS
from model import build_model


def main(argv=None):
    x = {"labels": LABELS, "model": build_model("bert")}
    return x
"""


def test_formats_and_sorts_imports_into_sections() -> None:
    assert format_python(MESSY, "train.py", first_party={"data", "model"}) == TIDY


def test_already_formatted_input_is_unchanged() -> None:
    assert format_python(TIDY, "train.py", first_party={"data", "model"}) == TIDY


def test_formatting_twice_equals_once() -> None:
    once = format_python(MESSY, "train.py")
    assert format_python(once, "train.py") == once


def test_output_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # isort's default would call `torch` first-party here, beside a torch/ folder.
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    assert format_python(MESSY, "train.py", first_party={"data", "model"}) == TIDY


def test_isort_skip_file_is_respected() -> None:
    src = "# isort: skip_file\nimport sys\nimport os\n"
    assert format_python(src, "a.py") == src


def test_invalid_input_raises_with_position() -> None:
    with pytest.raises(FormatError) as info:
        format_python("x = 1\ndef f(:\n    pass\n", "model.py")
    assert (info.value.path, info.value.line, info.value.col) == ("model.py", 2, 7)
    assert info.value.message == "black: cannot parse for target version Python 3.10"


def test_unstable_import_sorting_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = iter(["import os\n", "import os\nimport sys\n"])
    monkeypatch.setattr(
        fmt, "_sort_imports", lambda src, path, first_party: next(calls)
    )
    with pytest.raises(FormatError, match="isort and black disagree"):
        format_python("import os\n", "a.py")


def test_format_files_formats_python_only_and_detects_project_modules() -> None:
    files = {
        "train.py": MESSY,
        "data.py": "LABELS = ( 'neg','pos' )\n",
        "model.py": "def build_model(name):\n    return name\n",
        "README.md": "#  keep   as is\n",
    }
    out, findings = format_files(files)
    assert findings == []
    assert out["train.py"] == TIDY  # data and model found in the mapping: first party
    assert out["data.py"] == 'LABELS = ("neg", "pos")\n'
    assert out["model.py"] == files["model.py"]
    assert out["README.md"] == files["README.md"]
    assert files["train.py"] == MESSY  # the input mapping is left alone


def test_format_files_reports_invalid_file_and_keeps_it() -> None:
    broken = "def f(:\n    pass\n"
    out, findings = format_files({"pkg/bad.py": broken, "ok.py": "x=1\n"})
    assert out == {"pkg/bad.py": broken, "ok.py": "x = 1\n"}
    assert findings == [
        Finding(
            "pkg/bad.py", 1, 7, "black: cannot parse for target version Python 3.10"
        )
    ]
    assert str(findings[0]) == (
        "pkg/bad.py:1:7: black: cannot parse for target version Python 3.10"
    )


def test_formatted_text_is_cached_on_disk_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later run reads the formatted text back instead of running isort and black; the
    key covers the text, the project's module names and the tools' versions."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fmt._format_python.cache_clear()
    assert format_python(MESSY, "train.py", first_party={"data", "model"}) == TIDY
    entries = [p for p in (tmp_path / "scriptgen" / "format").rglob("*") if p.is_file()]
    assert [p.read_text() for p in entries] == [TIDY]
    # What is on disk is what a later run gets, without formatting again.
    entries[0].write_text("# from the cache\n")
    fmt._format_python.cache_clear()
    assert (
        format_python(MESSY, "train.py", first_party={"data", "model"})
        == "# from the cache\n"
    )
    # Other first-party modules sort imports differently: another entry.
    assert (
        format_python(MESSY, "train.py", first_party={"data"}) != "# from the cache\n"
    )
