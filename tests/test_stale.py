"""Staleness from the lock alone: what `regen --check` and the scriptgen-check hook see."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scriptgen.config import LLMSettings
from scriptgen.errors import UserError
from scriptgen.lock import LOCK_FILE, SPEC_FILE, Lock
from scriptgen.stale import (
    Wanted,
    find_projects,
    has_conflict_markers,
    status,
    wanted_for,
)

from .conftest import build_file_tree, run_scriptgen, snapshot


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project generated for real (no validation, no commit): copied by each test."""
    from scriptgen.pipeline import generate
    from scriptgen.planning import make_plan
    from scriptgen.spec import build_spec

    out = tmp_path_factory.mktemp("pristine") / "generated"
    raw, base = build_spec("textclf", model="bert-base", cwd=out.parent)
    return generate(make_plan(raw, base, out), validate=False, commit=False).target


@pytest.fixture
def project(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "generated" / pristine.name
    shutil.copytree(pristine, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_new_project_is_fresh(project: Path) -> None:
    assert status(project).fresh
    assert status(project).reasons == []


def test_a_spec_edit_is_named_key_by_key(project: Path) -> None:
    edit(project / SPEC_FILE, "learning_rate: 2.0e-05", "learning_rate: 3.0e-05")
    edit(project / SPEC_FILE, "epochs: 3.0", "epochs: 1.0")
    reasons = status(project).reasons
    assert reasons == [
        "spec changed: training.epochs: 3.0 -> 1.0, training.learning_rate: 2e-05 -> 3e-05"
    ]


def test_comments_and_key_order_in_the_spec_are_not_changes(project: Path) -> None:
    text = (project / SPEC_FILE).read_text()
    lines = text.splitlines()
    (project / SPEC_FILE).write_text(
        "# my spec\n" + "\n".join([lines[1], lines[0], *lines[2:]]) + "\n"
    )
    assert status(project).fresh


def test_edited_generated_files_do_not_make_it_stale(project: Path) -> None:
    edit(project / "train.py", "def main(", "# a note of mine\ndef main(")
    (project / "README.md").unlink()
    assert status(project).fresh


def test_a_template_change_is_stale(project: Path, templates: Path) -> None:
    assert status(project).fresh
    with (templates / "textclf/reference/train.py.j2").open("a") as f:
        f.write("# changed\n")
    assert status(project).reasons == [
        "templates changed: textclf/reference/train.py.j2"
    ]


def test_prompt_templates_matter_only_to_llm_projects(
    project: Path, templates: Path
) -> None:
    llm_project = project.parent / "by-an-llm"
    shutil.copytree(project, llm_project)
    lock = json.loads((llm_project / LOCK_FILE).read_text())
    lock.update(
        backend="openai", llm_model="coder", decoding={"temperature": 0.0, "seed": 0}
    )
    lock["templates"] = _prompt_hashes()
    (llm_project / LOCK_FILE).write_text(json.dumps(lock))
    assert status(llm_project).fresh
    with (templates / "_common/prompts/system.md.j2").open("a") as f:
        f.write("Be brief.\n")
    assert status(project).fresh  # a reference project never saw a prompt
    assert status(llm_project).reasons == [
        "templates changed: _common/prompts/system.md.j2"
    ]


def test_backend_model_and_decoding_changes(project: Path) -> None:
    lock = Lock.read(project)
    assert status(project, Wanted("openai", "openai:http://h/v1", None)).reasons[
        -1
    ] == ("backend: reference -> openai")
    data = json.loads((project / LOCK_FILE).read_text())
    data.update(
        backend="openai", llm_model="coder-7b", decoding={"temperature": 0.0, "seed": 0}
    )
    data["templates"] = {**lock.templates, **_prompt_hashes()}
    (project / LOCK_FILE).write_text(json.dumps(data))
    assert status(project, Wanted("openai", "openai:http://h/v1", None)).fresh
    assert status(project, Wanted("openai", "openai:http://h/v1", "coder-7b")).fresh
    assert status(
        project, Wanted("openai", "openai:http://h/v1", "coder-14b")
    ).reasons == ["llm model: coder-7b -> coder-14b"]
    data["decoding"] = {"temperature": 0.7}
    (project / LOCK_FILE).write_text(json.dumps(data))
    assert status(project, Wanted("openai")).reasons == [
        "decoding: {'temperature': 0.7} -> {'temperature': 0.0, 'seed': 0}"
    ]


def _prompt_hashes() -> dict[str, str]:
    from scriptgen.lock import template_hashes, unused_templates

    unused = unused_templates("textclf")
    return template_hashes("textclf", "openai", [], unused)


def test_wanted_keeps_the_locks_backend_unless_told() -> None:
    lock = Lock("textclf", "p", "h", "m", "bert", "openai", "coder", {}, {}, {}, {})
    toml = LLMSettings("openai:http://gpu:8000/v1", "coder-14b")
    assert wanted_for(lock, None, None, LLMSettings()) == Wanted("openai")
    assert wanted_for(lock, None, None, toml) == Wanted("openai", toml.uri, "coder-14b")
    # scriptgen.toml naming another kind of backend does not switch this project
    assert wanted_for(lock, None, None, LLMSettings("hf:/models/x")) == Wanted("openai")
    assert wanted_for(lock, "hf:/models/x", None, toml) == Wanted(
        "hf", "hf:/models/x", "/models/x"
    )
    assert wanted_for(lock, "reference", None, toml) == Wanted("reference", "reference")
    reference = Lock("textclf", "p", "h", "m", "bert", "reference", "", {}, {}, {}, {})
    assert wanted_for(reference, None, None, toml) == Wanted("reference")


def test_conflict_markers_in_an_edited_file(project: Path) -> None:
    edit(
        project / "config.yaml",
        "seed: 42",
        "<<<<<<< yours\nseed: 1\n=======\nseed: 42\n>>>>>>> new generation",
    )
    st = status(project)
    assert st.conflicts == ["config.yaml"] and not st.fresh and st.reasons == []
    assert not has_conflict_markers("a = '<<<<<<< not at the start'\n")


def test_find_projects(project: Path, tmp_path: Path) -> None:
    nested = tmp_path / "generated" / "team" / "other"
    shutil.copytree(project, nested)
    build_file_tree(
        tmp_path / "generated",
        {".hidden/x/.scriptgen/lock.json": "{}", "notes.txt": "x"},
    )
    assert find_projects([tmp_path / "generated"]) == [nested, project]
    assert find_projects([project]) == [project]
    assert find_projects([project, tmp_path / "generated"]) == [nested, project]
    with pytest.raises(UserError, match="holds none"):
        find_projects([tmp_path / "generated" / "team" / "other" / "tests"])
    with pytest.raises(UserError, match="no such folder"):
        find_projects([tmp_path / "missing"])


def test_unreadable_lock_or_spec_is_bad_input(project: Path) -> None:
    (project / SPEC_FILE).write_text("task: [textclf\n")
    with pytest.raises(UserError, match=r"spec.yaml:\d+:\d+: malformed YAML"):
        status(project)
    (project / LOCK_FILE).write_text("{not json")
    with pytest.raises(UserError, match="cannot read the lock"):
        status(project)
    (project / LOCK_FILE).write_text('{"task": "textclf"}')
    with pytest.raises(UserError, match="not a scriptgen lock"):
        status(project)


@pytest.mark.parametrize(
    "rel, content, says",
    [
        (LOCK_FILE, "{not json", "cannot read the lock"),
        (LOCK_FILE, b"\xff\xfe\x00", "lock"),
        (LOCK_FILE, '{"task": 1}', "not a scriptgen lock"),
        (SPEC_FILE, b"\x00\xff", "spec.yaml"),
        (SPEC_FILE, "task: [x\n", "spec.yaml:"),
    ],
    ids=["lock-junk", "lock-binary", "lock-not-ours", "spec-binary", "spec-malformed"],
)
def test_check_names_an_unreadable_project_and_checks_the_others(
    project: Path, rel: str, content: str | bytes, says: str
) -> None:
    """A project met on the way whose lock or spec is bad input is that project's failure:
    named on its own short line, exit 1, the other projects still checked."""
    other = project.parent / "other"
    shutil.copytree(project, other)
    edit(other / SPEC_FILE, "learning_rate: 2.0e-05", "learning_rate: 3.0e-05")
    path = project / rel
    (
        path.write_bytes(content)
        if isinstance(content, bytes)
        else path.write_text(content)
    )
    before = snapshot(project.parent)
    result = run_scriptgen("regen", "--check", cwd=project.parent.parent)
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("generated/other: stale: spec changed"), lines
    assert (
        lines[1].startswith(f"generated/{project.name}: failed: ") and says in lines[1]
    )
    assert len(lines[1]) < 300, lines[1]
    assert lines[2:] == ["1 of 2 project(s) stale: run `scriptgen regen`",
                         "1 of 2 project(s) could not be read"]  # fmt: skip
    assert snapshot(project.parent) == before


def test_check_cli_exit_codes_and_messages(project: Path) -> None:
    root = project.parent.parent
    fresh = run_scriptgen("regen", "--check", cwd=root)
    assert (fresh.returncode, fresh.stdout) == (0, "1 project(s) fresh\n"), fresh.stderr
    edit(project / SPEC_FILE, "learning_rate: 2.0e-05", "learning_rate: 3.0e-05")
    stale = run_scriptgen("regen", "--check", cwd=root)
    assert stale.returncode == 1
    assert stale.stdout.splitlines() == [
        "generated/textclf-bert-base: stale: spec changed: training.learning_rate: 2e-05 -> 3e-05",
        "1 of 1 project(s) stale: run `scriptgen regen`",
    ]
    for args in (["--check", "generated/nope"], ["--check", "--force"]):
        bad = run_scriptgen("regen", *args, cwd=root)
        assert (
            bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
        ), bad.stderr
    empty = run_scriptgen(
        "regen", "--check", cwd=root / "generated" / "textclf-bert-base" / "tests"
    )
    assert (empty.returncode, empty.stdout) == (
        0,
        "no scriptgen projects under generated/\n",
    )


def test_check_writes_nothing(project: Path) -> None:
    edit(project / SPEC_FILE, "seed: 42", "seed: 7")
    before = snapshot(project)
    assert run_scriptgen("regen", "--check", cwd=project.parent.parent).returncode == 1
    assert snapshot(project) == before


def test_check_path_imports_nothing_heavy(project: Path) -> None:
    """`regen --check` (stale or fresh) and the fresh `regen` never import torch,
    transformers, jinja2, pydantic, libcst, black, GitPython or rich."""
    probe = (
        "import sys\n"
        "sys.argv = ['scriptgen', *sys.argv[1:]]\n"
        "from scriptgen.cli import main\n"
        "code = main()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'transformers', 'datasets', 'jinja2', 'pydantic', 'libcst', 'black', 'git', 'rich'})\n"
        "print('HEAVY', heavy, code, file=sys.stderr)\n"
    )
    root = project.parent.parent
    for args in (["regen", "--check"], ["regen"]):
        proc = subprocess.run([sys.executable, "-c", probe, *args], cwd=root,
                              capture_output=True, text=True)  # fmt: skip
        assert "HEAVY [] 0" in proc.stderr, (args, proc.stderr)
    edit(project / SPEC_FILE, "seed: 42", "seed: 7")
    proc = subprocess.run([sys.executable, "-c", probe, "regen", "--check"], cwd=root,
                          capture_output=True, text=True)  # fmt: skip
    assert "HEAVY [] 1" in proc.stderr, proc.stderr


def test_the_lock_hashes_only_the_registry_entries_the_project_reads(
    project: Path,
) -> None:
    from scriptgen.manifests import get_manifest
    from scriptgen.render import shared_templates

    keys = [k for k in Lock.read(project).templates if k.startswith("_common/")]
    entries = [k for k in keys if "#" in k]
    assert entries == ["_common/families.yaml#bert", "_common/models.yaml#bert-base"]
    # Shared template files: exactly those the task's templates name or include.
    # (A project without a prompt baseline: not the baseline's files.)
    manifest = get_manifest("textclf").for_spec()
    assert sorted(set(keys) - set(entries)) == shared_templates(manifest)


def test_adding_an_alias_a_family_or_a_task_leaves_projects_fresh(
    project: Path, templates: Path
) -> None:
    with (templates / "_common/models.yaml").open("a") as f:
        f.write("my-bert: {hub_id: my-org/my-bert, model_type: bert}\n")
    with (templates / "_common/families.yaml").open("a") as f:
        f.write("\nmegatron-bert:\n  config: {hidden_size: 32}\n  layers: encoder.layer\n"
                "  methods: [full]\n")  # fmt: skip
    shutil.copytree(templates / "textclf", templates / "another")
    assert status(project).fresh
    result = run_scriptgen("regen", "--check", str(project), cwd=project.parent,
                           env={"SCRIPTGEN_TEMPLATES": str(templates)})  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_change_to_the_projects_own_entries_is_stale(
    project: Path, templates: Path
) -> None:
    edit(
        templates / "_common/models.yaml",
        "distilbert-base-uncased",
        "distilbert-base-cased",
    )
    assert status(project).fresh  # another alias's entry
    edit(templates / "_common/families.yaml", "bert:\n  config:\n    hidden_size: 32",
         "bert:\n  config:\n    hidden_size: 64")  # fmt: skip
    assert status(project).reasons == ["templates changed: _common/families.yaml#bert"]
    edit(
        templates / "_common/models.yaml",
        "google-bert/bert-base-uncased",
        "google-bert/x",
    )
    assert "_common/models.yaml#bert-base" in status(project).reasons[0]


def test_validate_says_when_the_judge_is_newer_than_the_project(tmp_path: Path) -> None:
    """The judge is rendered from the templates installed now; a project generated with
    other ones is named as such (and `regen` named as the way up to them)."""
    from scriptgen.lock import LOCK_FILE
    from scriptgen.project import judge_note

    from .conftest import run_scriptgen

    made = run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--no-validate", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    project = tmp_path / "generated" / "textclf-bert-base"
    assert judge_note(project) == ""
    lock = json.loads((project / LOCK_FILE).read_text())
    lock["templates"]["textclf/judge/test_contract.py.j2"] = "0" * 64
    (project / LOCK_FILE).write_text(json.dumps(lock))
    note = judge_note(project)
    assert "the judge comes from the templates installed now" in note
    assert "scriptgen regen" in note
