"""Edits as whole definitions in a JSON reply (`[llm] mode = "definitions"`): applying
them to a module, and `scriptgen new --llm openai:URL --require TEXT` against a scripted
server on 127.0.0.1 that answers with them, a wrong one first."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from scriptgen.backends.reference import ReferenceBackend
from scriptgen.definitions import (
    anchored_schema,
    apply_anchored,
    apply_definitions,
    read_reply,
    replace_definition,
    reply_schema,
    statements,
)
from scriptgen.planning import make_plan
from scriptgen.spec import build_spec

from .conftest import run_scriptgen
from .llm_replies import settings_reply
from .openai_server import ScriptedServer

MODULE = '''"""A module."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def helper(x: int) -> int:
    return x + 1


@staticmethod
def main(argv=None) -> int:
    """Run."""
    return helper(1)


if __name__ == "__main__":
    main()
'''


def test_a_definition_is_replaced_whole_with_its_decorators() -> None:
    code = 'def main(argv=None) -> int:\n    """Run."""\n    return helper(2)\n'
    text, problem = replace_definition(MODULE, "main", code)
    assert problem is None
    assert "@staticmethod" not in text and "return helper(2)" in text
    assert "return helper(1)" not in text
    assert text.index("def helper") < text.index("def main") < text.index("__main__")
    ast.parse(text)


def test_its_imports_join_the_modules_and_a_new_name_goes_before_main() -> None:
    code = (
        "import math\nimport logging\n\n\ndef twice(x):\n    return math.floor(2 * x)\n"
    )
    text, problem = replace_definition(MODULE, "twice", code)
    assert problem is None
    assert text.count("import logging") == 1
    assert text.index("import math") < text.index("logger = ")
    assert text.index("def main") < text.index("def twice") < text.index("__main__")
    ast.parse(text)


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("def main(:\n    pass\n", "the code does not parse: line 1"),
        ("def other():\n    pass\n", "does not define 'main'"),
        ("x = 1\n", "does not define 'main'"),
        (
            '@staticmethod\ndef main(argv=None) -> int:\n    """Run."""\n'
            "    return helper( 1 )\n",
            "the code of 'main' is the file's own, unchanged",
        ),
    ],
)
def test_code_that_cannot_replace_the_definition_says_why(
    code: str, problem: str
) -> None:
    text, found = replace_definition(MODULE, "main", code)
    assert text == MODULE
    assert found is not None and problem in found


def test_the_reply_is_read_as_json_or_left_to_the_blocks() -> None:
    edits = [{"path": "train.py", "name": "main", "code": "def main():\n    pass\n"}]
    reply = json.dumps({"edits": edits})
    assert read_reply(reply) == edits
    assert read_reply(f"```json\n{reply}\n```") == edits
    assert (
        read_reply("train.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n") is None
    )
    assert read_reply('{"settings": []}') is None


def test_edits_apply_in_turn_and_refuse_other_paths() -> None:
    files = {"train.py": MODULE, "tests/test_train.py": "def test():\n    pass\n"}
    edits = [
        {
            "path": "train.py",
            "name": "helper",
            "code": "def helper(x):\n    return x\n",
        },
        {"path": "tests/test_train.py", "name": "test", "code": "def test():\n    1\n"},
        {
            "path": "train.py",
            "name": "main",
            "code": "def main():\n    return helper(3)\n",
        },
    ]
    applied = apply_definitions(edits, files, ["train.py"])
    assert applied.edits == 2
    (problem,) = applied.problems
    assert "edit 2 (tests/test_train.py, test)" in problem
    assert "not a code file" in problem
    text = applied.files["train.py"]
    assert "return x\n" in text and "return helper(3)" in text


def test_the_schema_names_the_code_files_and_their_definitions() -> None:
    schema = reply_schema({"train.py": MODULE}, ["train.py"])
    edit = schema["properties"]["edits"]["items"]["properties"]
    assert edit["path"]["enum"] == ["train.py"]
    assert "'helper'" in edit["name"]["description"]
    assert "'main'" in edit["name"]["description"]


def test_statements_are_named_by_their_first_line_where_it_is_the_only_one() -> None:
    found = statements(MODULE + "\n\ndef other():\n    return helper(1)\n")
    assert "logger = logging.getLogger(__name__)" in found
    assert "def main(argv=None) -> int:" in found
    assert "main()" in found  # under `if __name__ == "__main__":`
    assert "return helper(1)" not in found  # twice: it could mean either


@pytest.mark.parametrize(
    ("where", "before", "after"),
    [
        ("before", '    """Run."""\n    print(1)\n    return', None),
        ("after", "    return helper(1)\n    print(1)\n", None),
        ("replace", '    """Run."""\n    print(1)\n\n', "return helper(1)"),
    ],
)
def test_lines_go_at_a_statement_indented_as_it_is(
    where: str, before: str, after: str | None
) -> None:
    edit = {"path": "m.py", "where": where, "statement": "return helper(1)",
            "code": "print(1)\n"}  # fmt: skip
    applied = apply_anchored([edit], {"m.py": MODULE}, ["m.py"])
    assert applied.problems == [] and applied.edits == 1
    text = applied.files["m.py"]
    assert before in text
    if after is not None:
        assert after not in text
    ast.parse(text)


def test_the_statement_copied_beside_the_new_lines_is_not_added_again() -> None:
    after = {"path": "m.py", "where": "after", "statement": "return helper(1)",
             "code": "return helper(1)\nprint(1)\n"}  # fmt: skip
    before = dict(after, where="before", code="print(2)\n  return helper(1)\n")
    applied = apply_anchored([after, before], {"m.py": MODULE}, ["m.py"])
    assert applied.problems == []
    text = applied.files["m.py"]
    assert text.count("return helper(1)") == 1
    assert "    print(2)\n    return helper(1)\n    print(1)\n" in text
    alone = dict(after, code="return helper(1)\n")
    (problem,) = apply_anchored([alone], {"m.py": MODULE}, ["m.py"]).problems
    assert "the code adds nothing" in problem


def test_lines_that_cannot_be_placed_say_why() -> None:
    files = {"m.py": MODULE}
    edits = [
        {"path": "m.py", "where": "after", "statement": "nothing like this", "code": "x"},
        {"path": "m.py", "where": "after", "statement": "def helper(x: int) -> int:",
         "code": "    return (\n"},
        {"path": "tests/t.py", "where": "after", "statement": "x", "code": "y"},
    ]  # fmt: skip
    applied = apply_anchored(edits, files, ["m.py"])
    assert applied.edits == 0 and applied.files == {}
    first, second, third = applied.problems
    assert "no statement of m.py starts with that line" in first
    assert "the file does not parse with it" in second
    assert "not a code file" in third


def test_the_lines_schema_offers_each_files_own_statements() -> None:
    files = {"a.py": "x = 1\n", "b.py": "y = 2\n"}
    schema = anchored_schema(files, ["a.py", "b.py"])
    choices = schema["properties"]["edits"]["items"]["anyOf"]
    offered = {c["properties"]["path"]["const"]: c["properties"]["statement"]["enum"]
               for c in choices}  # fmt: skip
    assert offered == {"a.py": ["x = 1"], "b.py": ["y = 2"]}


REQUIREMENT = "log the number of trainable parameters before training"
TRAIN = "    train_result = trainer.train(resume_from_checkpoint=resume)\n"
COUNTED = (
    "    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)\n"
    '    logger.info("%d trainable parameters", trainable)\n' + TRAIN
)


def reference_main(tmp_path: Path) -> str:
    raw, base = build_spec("textclf", model="bert-base", cwd=tmp_path)
    train = ReferenceBackend().generate(make_plan(raw, base, tmp_path / "g"))[
        "train.py"
    ]
    (main,) = [
        node
        for node in ast.parse(train).body
        if isinstance(node, ast.FunctionDef) and node.name == "main"
    ]
    return ast.get_source_segment(train, main) + "\n"


def run_with_replies(repo: Path, mode: str, *edits: dict[str, str]) -> tuple:
    """`scriptgen new` in ``mode`` against a server that answers the settings request
    with no setting, then each of ``edits`` as a reply of its own; its result and the
    chat requests it made."""
    (repo / "scriptgen.toml").write_text(f'[llm]\nmode = "{mode}"\n', encoding="utf-8")
    with ScriptedServer() as server:
        server.reply(settings_reply(REQUIREMENT))
        for edit in edits:
            server.reply(json.dumps({"edits": [edit]}))
        result = run_scriptgen(
            "new", "textclf", "--model", "bert-base", "--llm", f"openai:{server.url}",
            "--require", REQUIREMENT, cwd=repo,
        )  # fmt: skip
        return result, server.chat_requests


@pytest.mark.slow
def test_definitions_mode_meets_a_code_requirement_after_a_repair(
    repo: Path, tmp_path: Path
) -> None:
    """The edit request asks for JSON constrained to the schema; a reply naming a
    definition its code lacks goes to the repair turn, the next one lands validated."""
    main = reference_main(tmp_path)
    assert TRAIN in main
    wrong = {"path": "train.py", "name": "main", "code": "def run():\n    pass\n"}
    right = {"path": "train.py", "name": "main", "code": main.replace(TRAIN, COUNTED)}
    result, chats = run_with_replies(repo, "definitions", wrong, right)
    assert result.returncode == 0, result.stderr
    assert len(chats) == 3
    asked = chats[1].body
    schema = asked["response_format"]["json_schema"]["schema"]
    paths = schema["properties"]["edits"]["items"]["properties"]["path"]["enum"]
    assert "train.py" in paths and "config.yaml" not in paths
    assert '{"edits": [' in asked["messages"][0]["content"]
    repair = chats[2].body["messages"][-1]["content"]
    assert "does not define 'main'" in repair
    assert "reply with JSON" in repair
    project = repo / "generated" / "textclf-bert-base"
    assert "trainable parameters" in (project / "train.py").read_text()
    diff = (project / ".scriptgen/changes.diff").read_text()
    assert '+    logger.info("%d trainable parameters", trainable)' in diff


@pytest.mark.slow
def test_lines_mode_meets_a_code_requirement_after_a_repair(repo: Path) -> None:
    """The edit request offers each file's statements as an enum; lines placed at a
    statement the file does not have go to the repair turn, the next reply lands."""
    counted = COUNTED.replace(TRAIN, "")
    wrong = {"path": "train.py", "where": "before", "statement": "trainer.fit()",
             "code": counted}  # fmt: skip
    right = dict(wrong, statement=TRAIN.strip())
    result, chats = run_with_replies(repo, "lines", wrong, right)
    assert result.returncode == 0, result.stderr
    assert len(chats) == 3
    schema = chats[1].body["response_format"]["json_schema"]["schema"]
    (train,) = [
        choice["properties"]
        for choice in schema["properties"]["edits"]["items"]["anyOf"]
        if choice["properties"]["path"]["const"] == "train.py"
    ]
    assert TRAIN.strip() in train["statement"]["enum"]
    repair = chats[2].body["messages"][-1]["content"]
    assert "no statement of train.py starts with that line" in repair
    project = repo / "generated" / "textclf-bert-base"
    assert COUNTED in (project / "train.py").read_text()
