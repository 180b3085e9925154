from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scriptgen.config import llm_settings
from scriptgen.errors import UserError

from .conftest import build_file_tree, run_scriptgen
from .openai_server import ScriptedServer


def test_settings_come_from_the_nearest_scriptgen_toml(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "scriptgen.toml": '[llm]\nuri = "openai:http://h:1/v1"\nmodel = "m"\nmax_repairs = 1\nbudget = 120\n',
            "a/b/.keep": "",
        },
    )
    settings = llm_settings(tmp_path / "a" / "b")
    assert (settings.uri, settings.model, settings.max_repairs) == (
        "openai:http://h:1/v1",
        "m",
        1,
    )
    assert settings.source == tmp_path / "scriptgen.toml"
    assert settings.budget == 120


def test_backends_take_the_settings_given_never_the_working_directorys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library settles scriptgen.toml once, where the caller says: a backend made in
    a folder whose scriptgen.toml says otherwise keeps what it was given."""
    from scriptgen.backends import get_backend
    from scriptgen.backends.llm import RUN_SECONDS
    from scriptgen.config import LLMSettings

    build_file_tree(tmp_path, {"scriptgen.toml": "[llm]\nbudget = 5\n"})
    monkeypatch.chdir(tmp_path)
    for uri in ("openai:http://127.0.0.1:9/v1", "hf:some-org/some-model"):
        assert get_backend(uri).budget == RUN_SECONDS, uri
        assert get_backend(uri, settings=LLMSettings(budget=7)).budget == 7, uri


@pytest.mark.parametrize(
    ("text", "message"),
    [("[llm]\nuri = 3\n", "uri must be a string"), ("[llm]\nmax_repairs = 99\n", "max_repairs must be"),
     ("[llm]\nurl = 'x'\n", "unknown: url"), ("[llm\n", "cannot read"),
     ("[llm]\nbudget = 0\n", "budget must be a number of seconds"),
     ("[llm]\nbudget = '10m'\n", "budget must be a number of seconds"),
     ("[llm]\nbudget = true\n", "budget must be a number of seconds")],
)  # fmt: skip
def test_bad_settings_are_user_errors(tmp_path: Path, text: str, message: str) -> None:
    build_file_tree(tmp_path, {"scriptgen.toml": text})
    with pytest.raises(UserError, match=message):
        llm_settings(tmp_path)


def test_new_uses_the_configured_backend_and_flags_win(tmp_path: Path) -> None:
    with ScriptedServer(models=["from-config"]) as server:
        server.reply("No code today, sorry.")
        build_file_tree(
            tmp_path,
            {
                "scriptgen.toml": f'[llm]\nuri = "openai:{server.url}"\nmax_repairs = 1\n'
            },
        )
        result = run_scriptgen(
            "new", "textclf", "--model", "bert-base", "--no-validate",
            "--require", "log the number of examples", cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 1
        # The settings and the edit request, and the 1 configured repair.
        assert len(server.chat_requests) == 3
        assert server.chat_requests[0].body["model"] == "from-config"
        result = run_scriptgen(
            "new",
            "textclf",
            "--model",
            "bert-base",
            "--no-validate",
            "--llm",
            "reference",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert len(server.chat_requests) == 3


def test_validation_python_from_flag_toml_or_this_one(tmp_path: Path) -> None:
    import sys

    from scriptgen.config import validation_python

    assert validation_python(tmp_path) == sys.executable
    build_file_tree(
        tmp_path,
        {"scriptgen.toml": '[validate]\npython = "env/bin/python"\n', "a/.keep": ""},
    )
    with pytest.raises(
        UserError, match=r"\[validate\] python: no such interpreter: env/bin/python"
    ):
        validation_python(tmp_path / "a")
    interpreter = tmp_path / "env" / "bin" / "python"
    interpreter.parent.mkdir(parents=True)
    interpreter.symlink_to(
        sys.executable
    )  # a venv's python is a link: kept, not resolved
    assert validation_python(tmp_path / "a") == str(interpreter)
    assert validation_python(tmp_path / "a", sys.executable) == sys.executable
    with pytest.raises(UserError, match="--python: no such interpreter"):
        validation_python(tmp_path, str(tmp_path / "nope"))
    build_file_tree(tmp_path, {"scriptgen.toml": "[validate]\npyhton = 1\n"})
    with pytest.raises(UserError, match=r"unknown: pyhton"):
        validation_python(tmp_path)


def test_an_interpreter_without_the_ml_stack_is_named(tmp_path: Path) -> None:
    import subprocess
    import sys

    from scriptgen.errors import MissingDependency
    from scriptgen.deps import missing_ml_stack, require_ml_stack

    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")],
        check=True,
    )
    bare = str(tmp_path / "bare" / "bin" / "python")
    assert set(missing_ml_stack(bare)) == {
        "torch",
        "transformers",
        "datasets",
        "accelerate",
        "yaml",
        "pytest",
    }
    assert missing_ml_stack(sys.executable) == []
    with pytest.raises(MissingDependency, match=f"missing in {bare}"):
        require_ml_stack(bare)
    # A spec reporting to TensorBoard: its judge reads the event file with it.
    with pytest.raises(MissingDependency, match="tensorboard missing"):
        require_ml_stack(bare, "full", {"tensorboard", "model_card"})


def test_a_tasks_own_requirements_are_named(tmp_path: Path) -> None:
    """What a task's projects require beside the ML stack (their requirements.txt: seqeval,
    rouge-score, ...) is asked of the validation interpreter by distribution name, and
    the `ml` extra installs every task's."""
    import subprocess
    import sys
    import sysconfig

    from scriptgen.deps import missing_ml_stack, require_ml_stack
    from scriptgen.errors import MissingDependency
    from scriptgen.manifests import available_tasks, get_manifest

    needs = {n for t in available_tasks() for n in get_manifest(t).requirements}
    assert {"seqeval>=1.2", "rouge-score>=0.1.2"} <= needs
    assert missing_ml_stack(sys.executable, sorted(needs)) == []

    # An interpreter with this one's ML stack behind its own, too old, seqeval.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")],
        check=True,
    )
    (site,) = (tmp_path / "bare").glob("lib/python*/site-packages")
    (site / "stack.pth").write_text(sysconfig.get_paths()["purelib"], encoding="utf-8")
    (site / "seqeval").mkdir()
    (site / "seqeval" / "__init__.py").write_text("", encoding="utf-8")
    (site / "seqeval-1.0.0.dist-info").mkdir()
    (site / "seqeval-1.0.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: seqeval\nVersion: 1.0.0\n", encoding="utf-8"
    )
    bare = str(tmp_path / "bare" / "bin" / "python")
    tokclf = get_manifest("tokclf").requirements
    assert missing_ml_stack(bare) == []
    require_ml_stack(sys.executable, "full", (), tokclf)
    with pytest.raises(
        MissingDependency, match=r"this spec needs seqeval>=1\.2 \(has 1"
    ):
        require_ml_stack(bare, "full", (), tokclf)


def test_qlora_validation_needs_bitsandbytes_with_cpu_kernels(tmp_path: Path) -> None:
    """The validation interpreter, not scriptgen's own, is asked whether it has what the
    method needs: peft, and for qlora bitsandbytes 0.46.1 or newer (4-bit kernels for
    the CPU), read from its package metadata."""
    import subprocess
    import sys

    from scriptgen.errors import MissingDependency
    from scriptgen.deps import missing_ml_stack, require_ml_stack

    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")],
        check=True,
    )
    bare = str(tmp_path / "bare" / "bin" / "python")
    qlora = ("peft", "bitsandbytes>=0.46.1")
    assert missing_ml_stack(bare, qlora)[-2:] == ["peft", "bitsandbytes>=0.46.1"]
    (site,) = (tmp_path / "bare").glob("lib/python*/site-packages")

    def install(version: str) -> None:
        (site / "bitsandbytes").mkdir(exist_ok=True)
        (site / "bitsandbytes" / "__init__.py").write_text("", encoding="utf-8")
        for old in site.glob("bitsandbytes-*.dist-info"):
            shutil.rmtree(old)
        info = site / f"bitsandbytes-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: bitsandbytes\nVersion: {version}\n",
            encoding="utf-8",
        )

    install("0.45.5")  # 4-bit kernels for CUDA only
    assert "bitsandbytes>=0.46.1 (has 0.45.5)" in missing_ml_stack(bare, qlora)
    install("0.46.1")
    assert not [m for m in missing_ml_stack(bare, qlora) if "bitsandbytes" in m]
    install("0.50.2.dev0")
    assert not [m for m in missing_ml_stack(bare, qlora) if "bitsandbytes" in m]
    require_ml_stack(sys.executable, "qlora")
    with pytest.raises(MissingDependency, match=f"missing in {bare}"):
        require_ml_stack(bare, "qlora")

    # The ML stack of this interpreter, behind the old bitsandbytes of the other (its own
    # site-packages come first): `new --python` refuses qlora in one line, writes nothing;
    # without validation, bitsandbytes is not scriptgen's business.
    import sysconfig

    (site / "stack.pth").write_text(sysconfig.get_paths()["purelib"], encoding="utf-8")
    install("0.45.5")
    assert missing_ml_stack(bare, qlora) == ["bitsandbytes>=0.46.1 (has 0.45.5)"]
    assert missing_ml_stack(bare) == []
    args = ["new", "textclf", "--model", "bert-base", "--set", "training.method=qlora"]
    result = run_scriptgen(*args, "--python", bare, "--no-commit", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "scriptgen: error: validating training.method 'qlora' needs bitsandbytes>=0.46.1 "
        f"(has 0.45.5) in {bare}: pip install 'bitsandbytes>=0.46.1' (or pass --no-validate)"
    ]
    assert not (tmp_path / "generated").exists()
    result = run_scriptgen(*args, "--no-validate", "--no-commit", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "generated" / "textclf-bert-base"
    assert (project / "model.py").is_file()
    # `validate` has no --no-validate to offer.
    result = run_scriptgen("validate", str(project), "--python", bare, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "scriptgen: error: validating training.method 'qlora' needs bitsandbytes>=0.46.1 "
        f"(has 0.45.5) in {bare}: pip install 'bitsandbytes>=0.46.1'"
    ]


def test_a_bad_python_flag_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run_scriptgen(
        "validate", str(tmp_path), "--python", str(tmp_path / "nope"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"scriptgen: error: --python: no such interpreter: {tmp_path / 'nope'}"
    ]
