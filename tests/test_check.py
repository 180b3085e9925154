from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen.checks import Finding, check_project, safe_relpath
from scriptgen.manifests import FileContract, Manifest

DATA_PY = '''\
"""Loads the rows."""
import csv

LABELS = ("neg", "pos")


def load_dataset(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
'''

MODEL_PY = """\
from data import LABELS


def build_model(name: str) -> dict[str, object]:
    return {"name": name, "num_labels": len(LABELS)}
"""

TRAIN_PY = """\
import argparse

import data
from model import build_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name_or_path", default="bert-base")
    group = parser.add_argument_group("data")
    group.add_argument("-t", "--train_file", default="train.csv")
    parser.add_argument("--max_steps", type=int, default=-1)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows = data.load_dataset(args.train_file)
    print(build_model(args.model_name_or_path), len(rows))


if __name__ == "__main__":
    main()
"""

TEST_PY = """\
from train import main


def test_main_runs() -> None:
    main(["--max_steps", "1"])
"""

MANIFEST = Manifest(
    name="sample",
    title="A sample task",
    description="",
    metric="eval_accuracy",
    default_model="bert-base",
    model_types=("bert",),
    methods=("full",),
    data={"formats": ("csv",)},
    folder=Path("templates/sample"),
    files=(
        FileContract(
            path="data.py",
            kind="code",
            template="reference/data.py.j2",
            defines=("load_dataset", "LABELS"),
        ),
        FileContract(
            path="model.py",
            kind="code",
            template="reference/model.py.j2",
            defines=("build_model",),
        ),
        FileContract(
            path="train.py",
            kind="code",
            template="reference/train.py.j2",
            defines=("main", "parse_args"),
            flags=("--model_name_or_path", "--train_file", "max_steps"),
        ),
        FileContract(
            path="README.md", kind="scaffold", template="scaffold/README.md.j2"
        ),
        FileContract(
            path="tests/test_contract.py",
            kind="scaffold",
            template="scaffold/test_contract.py.j2",
        ),
    ),
)


def project(changes: dict[str, str | None] | None = None) -> dict[str, str]:
    """The clean project with some files replaced, added or (None) removed."""
    files = {
        "data.py": DATA_PY,
        "model.py": MODEL_PY,
        "train.py": TRAIN_PY,
        "README.md": "# textclf\n",
        "tests/test_contract.py": TEST_PY,
    }
    for path, text in (changes or {}).items():
        if text is None:
            files.pop(path)
        else:
            files[path] = text
    return files


def messages(files: dict[str, str], manifest: Manifest = MANIFEST) -> list[str]:
    return [str(f) for f in check_project(files, manifest)]


def test_clean_project_has_no_findings() -> None:
    assert check_project(project(), MANIFEST) == []


def test_indentation_error_has_exact_position_and_skips_contract() -> None:
    broken = TRAIN_PY.replace(
        "    args = parse_args(argv)\n", "args = parse_args(argv)\n"
    )
    assert messages(project({"train.py": broken})) == [
        "train.py:17:1: IndentationError: expected an indented block after function"
        " definition on line 16"
    ]


def test_unexpected_indent() -> None:
    broken = TRAIN_PY.replace("    rows = data", "      rows = data")
    assert messages(project({"train.py": broken})) == [
        "train.py:18:6: IndentationError: unexpected indent"
    ]


def test_code_after_a_return_is_unreachable() -> None:
    """Lines a model placed after a function's return (they validate: they never run)."""
    dead = TRAIN_PY.replace(
        "    print(build_model(args.model_name_or_path), len(rows))\n",
        "    return None\n    print(len(rows))\n",
    )
    looped = TRAIN_PY.replace(
        "    rows = data.load_dataset(args.train_file)\n",
        "    for row in data.load_dataset(args.train_file):\n        continue\n"
        "        print(row)\n    rows = []\n",
    )
    assert messages(project({"train.py": dead})) == [
        "train.py:20:5: unreachable: this statement follows a `return` in its block"
    ]
    assert messages(project({"train.py": looped})) == [
        "train.py:20:9: unreachable: this statement follows a `continue` in its block"
    ]


def test_syntax_error_reports_class_and_message() -> None:
    findings = check_project(
        project({"model.py": "def build_model(:\n    pass\n"}), MANIFEST
    )
    assert findings == [Finding("model.py", 1, 17, "SyntaxError: invalid syntax")]


def test_compile_catches_what_the_grammar_allows() -> None:
    assert messages(project({"model.py": MODEL_PY + "return 1\n"})) == [
        "model.py:6:1: SyntaxError: 'return' outside function"
    ]


def test_missing_contract_name() -> None:
    renamed = MODEL_PY.replace("def build_model(", "def make_model(")
    assert messages(project({"model.py": renamed})) == [
        "model.py: model.py must define 'build_model' at top level",
        "train.py:4:19: cannot import name 'build_model' from 'model' (model.py)",
    ]


def test_nested_definition_does_not_meet_contract() -> None:
    nested = DATA_PY.replace("def load_dataset(", "def _load_dataset(") + (
        "\n\nclass Loader:\n    load_dataset = staticmethod(_load_dataset)\n"
    )
    assert "data.py: data.py must define 'load_dataset' at top level" in messages(
        project({"data.py": nested})
    )


def test_missing_flag() -> None:
    no_flag = TRAIN_PY.replace(
        '    parser.add_argument("--max_steps", type=int, default=-1)\n', ""
    )
    assert messages(project({"train.py": no_flag})) == [
        "train.py: train.py must accept --max_steps: no add_argument('--max_steps', ...)"
    ]


def test_missing_manifest_file() -> None:
    assert messages(project({"README.md": None})) == [
        "README.md: missing: the task needs this file"
    ]


def test_from_import_of_undefined_name() -> None:
    wrong = MODEL_PY.replace(
        "from data import LABELS", "from data import LABELS, load_dataz"
    )
    assert messages(project({"model.py": wrong})) == [
        "model.py:1:26: cannot import name 'load_dataz' from 'data' (data.py)"
    ]


def test_attribute_of_imported_project_module() -> None:
    wrong = TRAIN_PY.replace("data.load_dataset(", "data.nope(")
    assert messages(project({"train.py": wrong})) == [
        "train.py:18:12: module 'data' (data.py) has no attribute 'nope'"
    ]


def test_attribute_on_a_shadowing_name_is_not_checked() -> None:
    shadowed = (
        TRAIN_PY + "\n\ndef count(data: list[int]) -> int:\n    return data.count(1)\n"
    )
    assert check_project(project({"train.py": shadowed}), MANIFEST) == []


def test_aliased_module_import_is_followed() -> None:
    aliased = TRAIN_PY.replace("import data\n", "import data as d\n").replace(
        "data.load_dataset(", "d.load_rows("
    )
    assert messages(project({"train.py": aliased})) == [
        "train.py:18:12: module 'data' (data.py) has no attribute 'load_rows'"
    ]


def test_third_party_imports_are_not_checked() -> None:
    extra = "import torch\nfrom transformers import NoSuchThing\n" + MODEL_PY
    assert check_project(project({"model.py": extra}), MANIFEST) == []


@pytest.mark.parametrize(
    "path",
    [
        "../evil.py",
        "/etc/evil.py",
        "C:/evil.py",
        "c:evil.py",
        "pkg\\..\\evil.py",
        "pkg/../evil.py",
    ],
)
def test_paths_that_escape_are_findings(path: str) -> None:
    files = project()
    files[path] = "x = 1\n"
    findings = check_project(files, MANIFEST)
    assert [f.path for f in findings] == [path]
    assert findings[0].message.startswith("unsafe path: ")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("../evil.py", "'..'"),
        ("/abs.py", "absolute"),
        ("D:\\x.py", "backslash"),
        ("D:/x.py", "drive"),
        ("./train.py", "not normalized"),
        ("pkg//mod.py", "not normalized"),
        ("pkg/", "not normalized"),
        ("a\x00b.py", "control character"),
        (".git/hooks/pre-commit", ".git"),
    ],
)
def test_safe_relpath_rejects_with_reason(path: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        safe_relpath(path)


def test_safe_relpath_accepts_nested_paths() -> None:
    assert safe_relpath("pkg/sub/mod.py") == "pkg/sub/mod.py"
    assert safe_relpath(".scriptgen/lock.json") == ".scriptgen/lock.json"


def test_conditional_and_unusual_bindings_count_as_top_level() -> None:
    data = """\
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator as RowIterator
try:
    import orjson as json_impl
except ImportError:
    import json as json_impl
else:
    FAST: bool = True
first, (second, *rest) = 1, (2, 3)
for last in range(3):
    pass
with open(__file__) as handle:
    pass
ANNOTATED_ONLY: int


def load_dataset(path): ...


LABELS = ()
"""
    names = [
        "RowIterator",
        "json_impl",
        "FAST",
        "first",
        "second",
        "rest",
        "last",
        "handle",
    ]
    model = "from data import " + ", ".join(names) + "\n" + MODEL_PY
    assert check_project(project({"data.py": data, "model.py": model}), MANIFEST) == []
    bare = model.replace("from data import ", "from data import ANNOTATED_ONLY, ", 1)
    assert messages(project({"data.py": data, "model.py": bare})) == [
        "model.py:1:18: cannot import name 'ANNOTATED_ONLY' from 'data' (data.py)"
    ]


def test_relative_imports_inside_a_package() -> None:
    files = project(
        {
            "pkg/__init__.py": "from .utils import helper\n",
            "pkg/utils.py": "def helper() -> int:\n    return 1\n",
            "pkg/core.py": "from . import utils\nfrom .utils import helper, missing\n\nutils.nope()\n",
        }
    )
    assert messages(files) == [
        "pkg/core.py:2:28: cannot import name 'missing' from 'pkg.utils' (pkg/utils.py)",
        "pkg/core.py:4:1: module 'pkg.utils' (pkg/utils.py) has no attribute 'nope'",
    ]


def test_relative_import_in_a_top_level_script() -> None:
    wrong = MODEL_PY.replace("from data import", "from .data import")
    assert messages(project({"model.py": wrong})) == [
        "model.py:1:1: attempted relative import with no parent package"
    ]


def test_relative_import_beyond_the_top_package() -> None:
    files = project({"pkg/mod.py": "from ..data import LABELS\n"})
    assert messages(files) == [
        "pkg/mod.py:1:1: attempted relative import beyond top-level package"
    ]


def test_dotted_imports_of_project_packages() -> None:
    imports = "import pkg.mod\nimport pkg.absent\n\nX = pkg.mod.VALUE + pkg.mod.OTHER\n"
    files = project(
        {
            "pkg/__init__.py": "",
            "pkg/mod.py": "VALUE = 1\n",
            "model.py": MODEL_PY + imports,
        }
    )
    assert messages(files) == [
        "model.py:7:8: No module named 'pkg.absent' in the project",
        "model.py:9:21: module 'pkg.mod' (pkg/mod.py) has no attribute 'OTHER'",
    ]


def test_star_import_from_a_project_module() -> None:
    star = MODEL_PY.replace("from data import LABELS", "from data import *")
    assert messages(project({"model.py": star})) == [
        "model.py:1:1: 'from data import *': import the names used"
    ]


def test_module_getattr_accepts_any_name() -> None:
    lazy = DATA_PY + "\n\ndef __getattr__(name: str) -> object:\n    return name\n"
    wrong = MODEL_PY.replace("import LABELS", "import LABELS, anything")
    assert check_project(project({"data.py": lazy, "model.py": wrong}), MANIFEST) == []


def test_findings_are_sorted_and_formatted() -> None:
    files = project({"model.py": "def f(:\n", "data.py": None})
    files["zz/../a.py"] = ""
    assert messages(files) == [
        "data.py: missing: the task needs this file",
        "model.py:1:7: SyntaxError: invalid syntax",
        "zz/../a.py: unsafe path: '..' escapes the project",
    ]


def test_finding_str_omits_missing_parts() -> None:
    assert str(Finding("a.py", 3, 5, "m")) == "a.py:3:5: m"
    assert str(Finding("a.py", 3, None, "m")) == "a.py:3: m"
    assert str(Finding("a.py", None, None, "m")) == "a.py: m"


def test_unparsable_module_does_not_cascade_into_importers() -> None:
    broken = DATA_PY.replace("LABELS = (", "LABELS = ((")
    assert messages(project({"data.py": broken})) == [
        "data.py:4:10: SyntaxError: '(' was never closed"
    ]


def test_assigning_a_module_attribute_is_not_an_access() -> None:
    setter = TRAIN_PY.replace("import data\n", "import data\n\ndata.CACHE = {}\n")
    assert check_project(project({"train.py": setter}), MANIFEST) == []


def test_star_from_project_module_still_resolves_names() -> None:
    files = project({"labels.py": "from data import *\n"})
    files["model.py"] = MODEL_PY.replace("from data import", "from labels import")
    assert messages(files) == [
        "labels.py:1:1: 'from data import *': import the names used"
    ]
