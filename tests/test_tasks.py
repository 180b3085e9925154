"""Tasks are data: manifests, the model and family registries, each task's data schema, the
methods a (task, family) supports, and `scriptgen tasks`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from scriptgen.catalog import combinations
from scriptgen.errors import UserError
from scriptgen.manifests import available_tasks, get_manifest
from scriptgen.planning import make_plan
from scriptgen.render import render_scaffold, shared_templates
from scriptgen.spec import METHODS, build_spec

from .conftest import (
    REPO,
    alias_for,
    build_file_tree,
    plan_with,
    run_scriptgen,
    snapshot,
)


def plan_for(tmp_path: Path, task: str = "textclf", **kwargs):  # type: ignore[no-untyped-def]
    raw, base = build_spec(task, cwd=tmp_path, **kwargs)
    return make_plan(raw, base, tmp_path / "generated")


def edit_yaml(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_every_manifest_and_registry_entry_is_valid() -> None:
    from scriptgen.registry import aliases, families

    assert available_tasks()
    for task in available_tasks():
        manifest = get_manifest(task)
        for model_type in manifest.model_types:
            assert model_type in families(), f"{task}: no twin for {model_type}"
        assert set(manifest.methods) <= set(METHODS)
        assert any(e.model_type in manifest.model_types for e in aliases().values())


def test_the_common_files_join_every_manifest_but_where_it_names_the_path(
    templates: Path,
) -> None:
    """_common/files.yaml's entries are every task's, once each; a manifest's own entry of
    the same path wins (imgclf's twin); a file added there reaches every task's projects
    and makes them stale (its hash is in the lock)."""
    common = templates / "_common/files.yaml"
    entries = yaml.safe_load(common.read_text(encoding="utf-8"))
    paths = [f["path"] for f in entries if not f.get("offered")]
    for task in available_tasks():
        own = [f.path for f in get_manifest(task).files]
        assert len(own) == len(set(own)) and set(paths) <= set(own), task
    assert get_manifest("imgclf").contract(".scriptgen/judge/twin.py").template == (
        "judge/twin.py.j2"
    )
    assert get_manifest("clm").contract(".scriptgen/judge/twin.py").template == (
        "_common/judge/twin.py.j2"
    )
    assert "_common/files.yaml" in shared_templates(get_manifest("clm"))
    with common.open("a", encoding="utf-8") as f:
        f.write(
            "\n- {path: NOTICE.md, kind: scaffold, template: _common/gitignore.j2}\n"
        )
    for task in available_tasks():
        assert get_manifest(task).contract("NOTICE.md") is not None, task


def test_an_offered_common_file_joins_only_the_manifests_that_name_it(
    templates: Path,
) -> None:
    """An offered entry of _common/files.yaml is declared once and taken by name
    (``- serve.py``); a name that is no offered entry is one line naming the file."""
    serving = [t for t in available_tasks() if get_manifest(t).contract("serve.py")]
    assert "clm" not in serving and len(serving) >= 2
    contracts = {get_manifest(t).contract("serve.py") for t in serving}
    assert len(contracts) == 1 and contracts.pop().when == "serve"
    manifest = templates / "textclf" / "manifest.yaml"
    text = manifest.read_text(encoding="utf-8")
    assert "\n  - serve.py\n" in text
    manifest.write_text(text.replace("\n  - serve.py\n", "\n  - serve.pyx\n"))
    with pytest.raises(UserError) as err:
        get_manifest("textclf")
    assert str(err.value) == (
        f"{manifest}: files: 'serve.pyx' is no offered entry of "
        f"{templates / '_common/files.yaml'}"
    )


def test_a_data_key_of_another_task_names_this_tasks_keys(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        plan_for(tmp_path, model="bert-base", sets=["data.tags_column=ner_tags"])
    message = str(err.value)
    assert "invalid spec: data.tags_column: unknown key" in message
    assert "textclf's data keys: format, train, validation, text_column" in message
    assert "\n" not in message


def test_data_keys_are_typed_by_the_manifest(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"data\.labels: List should have at least 2"):
        plan_for(tmp_path, model="bert-base", sets=["data.labels=[only]"])
    with pytest.raises(UserError, match=r"data\.labels: values must be distinct"):
        plan_for(tmp_path, model="bert-base", sets=["data.labels=[a, a]"])
    build_file_tree(tmp_path, {"t.csv": "text,label\nhi,a\n"})
    with pytest.raises(UserError, match=r"data\.format: Input should be 'csv', 'json'"):
        plan_for(
            tmp_path,
            model="bert-base",
            sets=["data.train=t.csv", "data.format=imagefolder"],
        )


def test_declared_defaults_fill_the_data_block(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"t.csv": "text,label\nhi,a\n"})
    plan = plan_for(tmp_path, model="bert-base", sets=["data.train=t.csv"])
    keys = get_manifest("textclf").data.keys
    for name, key in keys.items():
        assert plan.spec.data[name] == key.default
    assert plan.spec.data["format"] == "csv"


def test_a_task_with_a_key_of_its_own(tmp_path: Path, templates: Path) -> None:
    """A new task is a folder: its manifest's keys are the spec's, with no Python change."""
    shutil.copytree(templates / "textclf", templates / "sample")

    def declare(data: dict) -> None:
        data["name"] = "sample"
        data["data"]["keys"]["tags_column"] = {"type": "string", "default": "tags"}
        data["data"]["keys"]["window"] = {"type": "integer", "required": True}

    edit_yaml(templates / "sample/manifest.yaml", declare)
    with pytest.raises(UserError, match=r"data\.window: missing .*sample's data keys"):
        plan_for(tmp_path, "sample", model="bert-base")
    plan = plan_for(tmp_path, "sample", model="bert-base", sets=["data.window=3"])
    assert plan.spec.data["tags_column"] == "tags"
    assert plan.spec.data["window"] == 3
    assert plan.context()["data"]["window"] == 3


@pytest.mark.parametrize(
    ("rel", "change", "expected"),
    [
        (
            "textclf/manifest.yaml",
            lambda d: d.pop("metric"),
            "textclf/manifest.yaml: metric: missing",
        ),
        (
            "textclf/manifest.yaml",
            lambda d: d.update(metrik="eval_accuracy"),
            "textclf/manifest.yaml: metrik: unknown key",
        ),
        (
            "textclf/manifest.yaml",
            lambda d: d["data"]["keys"]["text_column"].update(type="text"),
            "textclf/manifest.yaml: data.keys.text_column.type: Input should be",
        ),
        (
            "textclf/manifest.yaml",
            lambda d: d["files"][0].update(kind="generated"),
            "textclf/manifest.yaml: files.0.kind: Input should be 'code', 'scaffold' or 'judge'",
        ),
        (
            "_common/models.yaml",
            lambda d: d["bert-base"].pop("hub_id"),
            "models.yaml: bert-base.hub_id: missing",
        ),
        (
            "_common/families.yaml",
            lambda d: d["bert"].update(methods=["full", "dreambooth"]),
            "families.yaml: bert.methods.1: Input should be 'full'",
        ),
        (
            "_common/families.yaml",
            lambda d: d["bert"].pop("layers"),
            "families.yaml: bert.layers: missing",
        ),
    ],
)
def test_a_broken_registry_file_is_one_line_naming_file_and_key(
    tmp_path: Path, templates: Path, rel: str, change, expected: str  # type: ignore[no-untyped-def]
) -> None:
    edit_yaml(templates / rel, change)
    result = run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--no-validate", cwd=tmp_path,
        env={"SCRIPTGEN_TEMPLATES": str(templates)},
    )  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not (tmp_path / "generated").exists()


@pytest.mark.parametrize(
    "junk", [b"\x00\x01\xff\xfe" * 64, b"key: [unclosed\n", b"- a list\n"]
)
def test_a_junk_manifest_is_one_line(
    tmp_path: Path, templates: Path, junk: bytes
) -> None:
    (templates / "textclf/manifest.yaml").write_bytes(junk)
    result = run_scriptgen(
        "tasks", cwd=tmp_path, env={"SCRIPTGEN_TEMPLATES": str(templates)}
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "manifest.yaml" in result.stderr and "internal error" not in result.stderr


def test_a_junk_spec_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_bytes(bytes(range(256)) * 8)
    before = snapshot(tmp_path)
    result = run_scriptgen("new", "textclf", "--spec", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "scriptgen: error: spec.yaml: not a text file (not UTF-8 at byte 128)"
    )
    assert snapshot(tmp_path) == before


def test_a_method_the_family_lacks_is_refused_naming_the_supported(
    tmp_path: Path, templates: Path
) -> None:
    edit_yaml(
        templates / "_common/families.yaml",
        lambda d: d["bert"].update(methods=["full"]),
    )
    with pytest.raises(UserError) as err:
        plan_for(tmp_path, model="bert-base", sets=["training.method=freeze"])
    assert str(err.value) == (
        "training.method 'freeze' is not supported for textclf with model_type 'bert'; "
        "supported: full"
    )


def test_method_options_reach_the_context_and_only_theirs_the_spec(
    tmp_path: Path,
) -> None:
    plan = plan_for(
        tmp_path,
        model="bert-base",
        sets=["training.method=lora", "training.lora.r=4", "training.precision=bf16"],
    )
    training = plan.context()["training"]
    assert training["lora"]["r"] == 4 and training["precision"] == "bf16"
    saved = plan.canonical_spec["training"]
    assert saved["lora"]["r"] == 4
    assert "unfreeze_layers" not in saved and "num_virtual_tokens" not in saved
    full = plan_for(tmp_path, model="bert-base").canonical_spec["training"]
    assert "lora" not in full


def test_tasks_json_lists_families_methods_and_keys(tmp_path: Path) -> None:
    result = run_scriptgen("tasks", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    by_name = {t["name"]: t for t in found["tasks"]}
    assert set(by_name) == set(available_tasks())
    textclf = by_name["textclf"]
    assert textclf["metric"] == "eval_accuracy"
    assert set(textclf["families"]) == set(get_manifest("textclf").model_types)
    assert all("full" in methods for methods in textclf["families"].values())
    assert "text_column" in textclf["data"]["keys"]
    assert found["models"]["bert-base"]["model_type"] == "bert"
    text = run_scriptgen("tasks", cwd=tmp_path).stdout
    assert "textclf: Text classification" in text and "data.text_column" in text
    # The spec's optional parts each task offers, and the files that come with them.
    assert textclf["options"] == [
        "baseline",
        "class_report",
        "early_stopping",
        "export",
        "model_card",
        "search",
        "serve",
        "tensorboard",
    ]
    assert "class_report" not in by_name["qa"]["options"]
    assert "serve" not in by_name["clm"]["options"]
    assert (
        "  spec options: baseline (or --baseline), class_report, "
        "training.early_stopping, export, model_card, search, serve, "
        "training.report_to: [tensorboard]\n" in text
    )
    assert "class_report.py  (with class_report)" in text


def test_nothing_under_the_package_names_a_task_column_or_alias() -> None:
    """The core knows no task: comments aside, no task, data key, metric, baseline counter
    or model alias appears."""
    import io
    import tokenize

    manifests = [get_manifest(task) for task in available_tasks()]
    names = [*available_tasks(), "bert-base"]
    # The tasks' data keys, but two words the core uses in a sense of its own: a file's
    # "kind" (code or scaffold), and "labels", which estimation.py still reads from the data
    # block to size a classifier's head (to move into the manifests).
    names += {key for m in manifests for key in m.data.keys} - {"kind", "labels"}
    names += {name for m in manifests for name in (m.metric, *m.metrics)}
    names += {key for m in manifests for key in m.baseline_notes}
    found = []
    for path in sorted((REPO / "scriptgen").rglob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        for tok in tokens:
            if tok.type == tokenize.STRING and any(n in tok.string for n in names):
                if not tok.string.startswith(('"""', "'''")):  # docstrings are comments
                    found.append(f"{path.name}:{tok.start[0]}: {tok.string[:60]}")
            elif tok.type == tokenize.NAME and tok.string in names:
                found.append(f"{path.name}:{tok.start[0]}: {tok.string}")
    assert found == []


def test_no_function_shares_a_mutable_default() -> None:
    """A default argument is made once: a Sandbox() (whose stop() ends every run it holds)
    or a list there would be shared by every call that omits it."""
    import ast

    found = []
    for path in sorted((REPO / "scriptgen").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                defaults = [*node.args.defaults, *filter(None, node.args.kw_defaults)]
                found += [
                    f"{path.name}:{d.lineno}: {ast.unparse(d)}"
                    for d in defaults
                    if isinstance(d, (ast.Call, ast.List, ast.Dict, ast.Set))
                ]
    assert found == []


# Every family of each task with its default method, and each task's first family with
# each method it offers (model.py, and what train.py adds for the method).
BLACK_STABLE_ROWS = sorted(
    {(task, model_type, None) for task, model_type, _ in combinations()}
    | {
        (task, model_type, method)
        for task, model_type, method in combinations()
        if model_type == get_manifest(task).model_types[0]
    },
    key=str,
)


@pytest.mark.parametrize(("task", "model_type", "method"), BLACK_STABLE_ROWS)
def test_reference_code_renders_black_stable(
    tmp_path: Path, task: str, model_type: str, method: str | None
) -> None:
    """What the reference backend renders is what black writes: the exemplar an LLM sees
    is the file a user gets, shared templates (model.py, train.py's base) included."""
    import black

    from scriptgen.backends.reference import ReferenceBackend

    alias = alias_for(model_type)
    sets = [f"training.method={method}"] if method else []
    raw, base = build_spec(task, model=alias, sets=sets, cwd=tmp_path)
    plan = make_plan(raw, base, tmp_path / "generated")
    mode = black.Mode(target_versions={black.TargetVersion.PY310})
    for path, text in ReferenceBackend().generate(plan).items():
        where = f"{task}/{path} ({alias}, {method or 'default method'})"
        assert black.format_str(text, mode=mode) == text, where
        assert _literal_percents(text) == [], where


def _literal_percents(source: str) -> list[int]:
    """Lines of logging calls whose message has "%%" and no arguments: logging formats a
    message only when it has arguments, so the user would read "%%"."""
    import ast

    levels = {"debug", "info", "warning", "error", "exception", "critical"}
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in levels
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and "%%" in str(node.args[0].value)
    ]


# Every spec option the task offers, asked for at once.
EVERY_OPTION = {
    "class_report": "class_report=true",
    "early_stopping": "training.early_stopping=true",
    "tensorboard": "training.report_to=[tensorboard]",
    "search": "search=true",
    "export": "export=true",
    "serve": "serve=true",
    "model_card": "model_card=true",
}


@pytest.mark.parametrize("every_option", [False, True])
@pytest.mark.parametrize("task", available_tasks())
def test_a_projects_readme_keeps_its_paragraphs_apart(
    tmp_path: Path, task: str, every_option: bool
) -> None:
    """Whichever optional sections a project's README has, each heading stands after a
    blank line and no sentence runs into the next one's code span or capital."""
    manifest = get_manifest(task)
    sets = [s for part, s in EVERY_OPTION.items() if part in manifest.parts]
    plan = plan_with(
        tmp_path, task, *(sets if every_option else []), model=manifest.default_model
    )
    lines = render_scaffold(plan)["README.md"].splitlines()
    for number, line in enumerate(lines[1:], 1):
        if line.startswith("#"):
            assert lines[number - 1] == "", f"README.md:{number + 1}: {line}"
        prose = re.sub(r"\(https?://[^)]*\)", "", line)
        glued = re.search(r"[a-z]\.`", prose) or re.search(
            r"[a-z]\.[A-Z]", re.sub(r"`[^`]*`", "", prose)
        )
        assert not glued, f"README.md:{number + 1}: {line}"
