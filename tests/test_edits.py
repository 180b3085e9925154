"""Search/replace edits from LLM replies, applied to a project's files: the replies as
code models write them (fenced or not, indented wrong, elided, pointed at the wrong place
or at files they may not touch)."""

from __future__ import annotations

from scriptgen.edits import apply_reply, parse_edits

TRAIN = """import yaml


def main(argv=None):
    args = parse_args(argv)
    trainer = Trainer(
        model=model,
        args=args,
    )
    trainer.train()
    metrics = trainer.evaluate()
    return metrics


def report(metrics):
    return metrics
"""
FILES = {"train.py": TRAIN, "data.py": "def load():\n    return []\n"}
ALLOWED = {"train.py", "data.py"}


def block(path: str, search: str, replace: str, fence: bool = True) -> str:
    body = f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"
    return f"```python\n{body}```\n" if fence else body


def test_an_exact_block_applies_and_only_its_file_changes() -> None:
    reply = "Here is the change:\n\n" + block(
        "train.py",
        "    trainer.train()\n",
        "    trainer.train(resume_from_checkpoint=True)\n",
    )
    applied = apply_reply(reply, FILES, ALLOWED)
    assert applied.problems == [] and applied.edits == 1
    assert set(applied.files) == {"train.py"}
    assert (
        "    trainer.train(resume_from_checkpoint=True)\n" in applied.files["train.py"]
    )
    assert applied.files["train.py"].count("trainer.train(") == 1


def test_the_path_may_be_a_heading_or_bold_and_the_fence_may_be_missing() -> None:
    for line in ("### train.py", "**train.py**", "`train.py`", "File: ./train.py"):
        reply = block(line, "import yaml\n", "import json\nimport yaml\n", fence=False)
        applied = apply_reply(reply, FILES, ALLOWED)
        assert applied.problems == [], line
        assert applied.files["train.py"].startswith("import json\nimport yaml\n"), line


def test_indentation_drift_is_forgiven_and_the_replacement_follows_the_file() -> None:
    # The model quoted the lines flush left; in the file they are indented 4 columns.
    reply = block(
        "train.py",
        "metrics = trainer.evaluate()\nreturn metrics\n",
        "metrics = trainer.evaluate()\nprint(metrics)  \nreturn metrics\n",
    )
    applied = apply_reply(reply, FILES, ALLOWED)
    assert applied.problems == []
    assert (
        "    metrics = trainer.evaluate()\n    print(metrics)\n    return metrics\n"
        in applied.files["train.py"]
    )


def test_a_block_matches_whole_lines_only() -> None:
    files = {"data.py": "max = 1\nx = 1\n"}
    applied = apply_reply(block("data.py", "x = 1\n", "x = 2\n"), files, {"data.py"})
    assert applied.problems == [] and applied.files["data.py"] == "max = 1\nx = 2\n"


def test_a_missing_final_newline_and_trailing_spaces_are_forgiven() -> None:
    reply = "data.py\n<<<<<<< SEARCH\n    return []   \n=======\n    return [1]\n>>>>>>> REPLACE"
    applied = apply_reply(reply, FILES, ALLOWED)
    assert applied.problems == []
    assert applied.files["data.py"] == "def load():\n    return [1]\n"


def test_elided_lines_apply_each_stretch_in_order() -> None:
    reply = block(
        "train.py",
        "def main(argv=None):\n...\n    trainer.train()\n",
        'def main(argv=None):\n    """Train."""\n...\n    trainer.train()\n    trainer.save_state()\n',
    )
    applied = apply_reply(reply, FILES, ALLOWED)
    assert applied.problems == []
    text = applied.files["train.py"]
    assert 'def main(argv=None):\n    """Train."""\n    args = parse_args(argv)' in text
    assert "    trainer.train()\n    trainer.save_state()\n" in text
    assert (
        "    trainer = Trainer(\n        model=model,\n" in text
    )  # the elided lines stay


def test_a_block_that_matches_twice_is_not_applied_and_says_where() -> None:
    reply = block("train.py", "    return metrics\n", "    return dict(metrics)\n")
    applied = apply_reply(reply, FILES, ALLOWED)
    assert applied.files == {} and applied.edits == 0
    (problem,) = applied.problems
    assert problem.startswith("train.py (reply line 3): ")
    assert "2 places (lines 12, 16)" in problem and "more lines" in problem


def test_a_block_that_matches_nothing_shows_the_nearest_lines() -> None:
    reply = block(
        "train.py",
        "    trainer.train(resume=True)\n    metrics = trainer.evaluate()\n",
        "    trainer.train()\n",
    )
    applied = apply_reply(reply, FILES, ALLOWED)
    assert applied.files == {}
    (problem,) = applied.problems
    assert "match nothing" in problem
    assert (
        "   10      trainer.train()" in problem
    )  # numbered, as the repair turn shows it
    assert "   11      metrics = trainer.evaluate()" in problem


def test_edits_apply_in_order_and_a_failed_one_leaves_the_others() -> None:
    reply = (
        block("train.py", "import yaml\n", "import yaml\nimport logging\n")
        + "\nand\n\n"
        + block("train.py", "import logging\n", "import logging\nimport os\n")
        + block("data.py", "    return None\n", "    return ()\n")
    )
    applied = apply_reply(reply, FILES, ALLOWED)
    assert applied.edits == 2 and len(applied.problems) == 1
    assert applied.files["train.py"].startswith(
        "import yaml\nimport logging\nimport os\n"
    )
    assert "data.py (reply line" in applied.problems[0]


def test_the_judge_scriptgens_files_and_paths_outside_are_refused() -> None:
    files = {**FILES, ".scriptgen/judge/conftest.py": "x = 1\n"}
    for path in (
        ".scriptgen/judge/conftest.py",
        ".scriptgen/lock.json",
        "../evil.py",
        "/etc/passwd",
    ):
        reply = block(path, "x = 1\n", "x = 2\n")
        applied = apply_reply(reply, files, {*ALLOWED, path})
        assert applied.files == {}, path
        assert "refused" in applied.problems[0], path


def test_a_file_not_allowed_is_refused_and_a_new_module_only_where_allowed() -> None:
    reply = block("README.md", "# x\n", "# y\n")
    assert (
        "refused: not a file"
        in apply_reply(reply, {**FILES, "README.md": "# x\n"}, ALLOWED).problems[0]
    )
    new = block("losses.py", "", "def focal_loss():\n    pass\n")
    refused = apply_reply(new, FILES, ALLOWED)
    assert refused.files == {} and "refused" in refused.problems[0]
    made = apply_reply(new, FILES, ALLOWED, can_create=lambda p: p.endswith(".py"))
    assert made.problems == [] and made.files == {
        "losses.py": "def focal_loss():\n    pass\n"
    }
    # An empty SEARCH on a file that exists would overwrite it: refused.
    clobber = apply_reply(block("data.py", "", "x = 1\n"), FILES, ALLOWED)
    assert clobber.files == {} and "exists" in clobber.problems[0]


def test_a_whole_file_reply_is_still_accepted() -> None:
    reply = "### data.py\n```python\ndef load():\n    return [1, 2]\n```\n"
    applied = apply_reply(reply, FILES, ALLOWED)
    assert applied.problems == [] and applied.whole_files == ["data.py"]
    assert applied.files == {"data.py": "def load():\n    return [1, 2]\n"}


def test_malformed_blocks_are_diagnosed() -> None:
    _, problems = parse_edits("train.py\n<<<<<<< SEARCH\nimport yaml\n")
    assert "without its =======" in problems[0]
    unnamed = "<<<<<<< SEARCH\nimport os\n=======\nimport json\n>>>>>>> REPLACE\n"
    edits, problems = parse_edits(unnamed)
    assert problems == [] and edits[0].path == ""
    applied = apply_reply(unnamed, FILES, ALLOWED)
    assert applied.files == {} and "names no file" in applied.problems[0]
    applied = apply_reply("I changed nothing.", FILES, ALLOWED)
    assert applied.files == {} and applied.problems == ["no fenced block in the reply"]


def test_a_block_that_names_no_file_it_may_change_applies_where_its_lines_stand() -> (
    None
):
    # Qwen2.5-Coder-1.5B's reply, as it wrote it: a word where the path goes.
    reply = (
        "SEARCH/REPLACE\n\n```python\n<<<<<<< SEARCH\n    trainer.train()\n=======\n"
        "    trainer.train(resume_from_checkpoint=True)\n>>>>>>> REPLACE\n```\n"
    )
    for text in (reply, reply.replace("SEARCH/REPLACE\n", "")):
        applied = apply_reply(text, FILES, ALLOWED)
        assert applied.problems == [] and applied.edits == 1
        assert "trainer.train(resume_from_checkpoint=True)" in applied.files["train.py"]
    # A file it may not touch, one that is not there, or one whose lines it does not
    # quote (the model named data.py and quoted train.py): the same.
    wrong = block("data.py", "    trainer.train()\n", "    trainer.train(x)\n")
    assert "trainer.train(x)" in apply_reply(wrong, FILES, ALLOWED).files["train.py"]
    for path in ("config.yaml", "src/train.py"):
        moved = block(path, "def load():\n", "def load(split):\n")
        assert apply_reply(moved, FILES, ALLOWED).files == {
            "data.py": "def load(split):\n    return []\n"
        }
    # Lines that stand in two files (or none) say so, and change nothing.
    files = {**FILES, "data.py": "import yaml\n"}
    twice = apply_reply(block("", "import yaml\n", "import json\n"), files, ALLOWED)
    assert twice.files == {}
    assert "names no file" in twice.problems[0]
    assert "stand in data.py, train.py" in twice.problems[0]
    missing = apply_reply(block("helpers.py", "x = 1\n", "x = 2\n"), FILES, ALLOWED)
    assert (
        missing.files == {}
        and "not a file this change may touch" in missing.problems[0]
    )
    # Never the judge's files, nor a path outside, whatever their lines quote.
    judged = {**FILES, ".scriptgen/judge/conftest.py": "def load():\n"}
    for path in (".scriptgen/judge/conftest.py", "../data.py"):
        reply = block(path, "def load():\n", "def load(split):\n")
        applied = apply_reply(reply, judged, {*ALLOWED, path})
        assert applied.files == {} and "refused" in applied.problems[0], path
