"""Three-way merge of a new generation into a project the user edited."""

from __future__ import annotations

from pathlib import Path

from scriptgen.lock import BASE_DIR, base_copy, sha256_text
from scriptgen.merge import base_text, merge_file, reconcile

from .conftest import build_file_tree, git

BASE = "import os\n\n\ndef main():\n    lr = 2e-5\n    return lr\n"
THEIRS = "import os\n\n\ndef main():\n    lr = 3e-5\n    return lr\n"


def project_with(
    tmp_path: Path, files: dict[str, str], base: dict[str, str]
) -> tuple[Path, dict[str, str]]:
    """A project whose files are ``files`` and whose last generation was ``base``."""
    project = tmp_path / "p"
    build_file_tree(project, files)
    build_file_tree(project, {base_copy(rel): text for rel, text in base.items()})
    return project, {rel: sha256_text(text) for rel, text in base.items()}


def test_unedited_files_take_the_new_generation(tmp_path: Path) -> None:
    project, last = project_with(tmp_path, {"train.py": BASE}, {"train.py": BASE})
    merge = reconcile(project, last, {"train.py": THEIRS})
    assert merge.final == {"train.py": THEIRS}
    assert not merge.edited


def test_a_clean_merge_keeps_the_users_comment(tmp_path: Path) -> None:
    ours = "# my note: keep it simple\n" + BASE
    project, last = project_with(tmp_path, {"train.py": ours}, {"train.py": BASE})
    merge = reconcile(project, last, {"train.py": THEIRS})
    assert merge.final["train.py"] == "# my note: keep it simple\n" + THEIRS
    assert merge.merged == ["train.py"] and merge.conflicts == {}


def test_the_same_lines_changed_on_both_sides_conflict(tmp_path: Path) -> None:
    ours = BASE.replace("2e-5", "1e-4")
    project, last = project_with(tmp_path, {"train.py": ours}, {"train.py": BASE})
    merge = reconcile(project, last, {"train.py": THEIRS})
    text = merge.final["train.py"]
    assert text is not None
    assert (
        "<<<<<<< yours\n    lr = 1e-4\n=======\n    lr = 3e-5\n>>>>>>> new generation\n"
        in text
    )
    assert list(merge.conflicts) == ["train.py"]
    assert "same lines" in merge.conflicts["train.py"]


def test_an_edit_to_a_file_the_generation_did_not_change_is_kept(
    tmp_path: Path,
) -> None:
    ours = BASE + "# mine\n"
    project, last = project_with(tmp_path, {"train.py": ours, "data.py": "x = 1\n"},
                                 {"train.py": BASE, "data.py": "x = 1\n"})  # fmt: skip
    merge = reconcile(project, last, {"train.py": BASE, "data.py": "x = 2\n"})
    assert merge.final == {"train.py": ours, "data.py": "x = 2\n"}
    assert merge.kept == ["train.py"] and merge.edited


def test_a_deleted_file_stays_deleted_unless_the_generation_changes_it(
    tmp_path: Path,
) -> None:
    project, last = project_with(
        tmp_path, {}, {"README.md": "old\n", "notes.md": "n\n"}
    )
    merge = reconcile(project, last, {"README.md": "new\n", "notes.md": "n\n"})
    assert merge.final == {"README.md": "new\n", "notes.md": None}
    assert merge.deleted == ["notes.md"]
    assert "delete it again" in merge.conflicts["README.md"]


def test_files_the_generation_drops_go_unless_edited(tmp_path: Path) -> None:
    project, last = project_with(tmp_path, {"old.py": "a = 1\n", "mine.py": "a = 2\n"},
                                 {"old.py": "a = 1\n", "mine.py": "a = 1\n"})  # fmt: skip
    merge = reconcile(project, last, {"train.py": THEIRS})
    assert merge.final == {"old.py": None, "mine.py": "a = 2\n", "train.py": THEIRS}
    assert merge.kept == ["mine.py"]


def test_a_file_the_user_made_that_the_generation_now_writes(tmp_path: Path) -> None:
    project, _ = project_with(tmp_path, {"utils.py": "a = 1\nb = 2\n"}, {})
    merge = reconcile(project, {}, {"utils.py": "a = 1\nb = 3\n"})
    assert merge.conflicts == {
        "utils.py": "no copy of the last generation to merge against"
    }
    assert "<<<<<<< yours\nb = 2\n=======\nb = 3\n>>>>>>> new generation" in str(
        merge.final["utils.py"]
    )


def test_a_damaged_base_copy_is_not_trusted(tmp_path: Path) -> None:
    ours = "# my note\n" + BASE
    project, last = project_with(tmp_path, {"train.py": ours}, {"train.py": BASE})
    (project / BASE_DIR / "train.py").write_text(
        BASE.replace("import os", "import sys")
    )
    assert base_text(project, "train.py", last["train.py"]) is None
    merge = reconcile(project, last, {"train.py": THEIRS})
    assert list(merge.conflicts) == ["train.py"]  # never a silent guess


def test_without_a_base_copy_the_committed_version_serves(tmp_path: Path) -> None:
    """Projects generated before base copies were kept: HEAD holds what scriptgen wrote."""
    project = tmp_path / "repo" / "p"
    build_file_tree(project, {"train.py": BASE})
    git(project.parent, "init", "-q", "-b", "main")
    git(project.parent, "add", ".")
    git(project.parent, "commit", "-q", "-m", "generated")
    (project / "train.py").write_text("# my note\n" + BASE)
    merge = reconcile(project, {"train.py": sha256_text(BASE)}, {"train.py": THEIRS})
    assert merge.final["train.py"] == "# my note\n" + THEIRS and merge.merged == [
        "train.py"
    ]


def test_merge_file_reports_conflicts() -> None:
    assert merge_file("a\nb\n", "a\n", "a\n") == ("a\nb\n", False)
    text, conflicted = merge_file("x\n", "a\n", "y\n")
    assert conflicted and text.startswith(
        "<<<<<<< yours\nx\n=======\ny\n>>>>>>> new generation"
    )


def test_base_copies_of_git_files_do_not_act_as_them() -> None:
    assert base_copy("train.py") == ".scriptgen/base/train.py"
    assert (
        base_copy("tests/test_contract.py") == ".scriptgen/base/tests/test_contract.py"
    )
    assert base_copy(".gitignore") == ".scriptgen/base/.gitignore.base"
    assert base_copy("sub/.gitattributes") == ".scriptgen/base/sub/.gitattributes.base"
