from __future__ import annotations

import socket
from pathlib import Path

import pytest

from .conftest import run_scriptgen
from .openai_server import ScriptedServer


def test_doctor_reports_versions_and_a_reachable_server(tmp_path: Path) -> None:
    with ScriptedServer(models=["coder-x", "coder-y"]) as server:
        url = server.url
        result = run_scriptgen("doctor", "--llm", f"openai:{url}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert rows["transformers"].strip()[0].isdigit()
    assert rows["bitsandbytes"].strip()[0].isdigit()  # qlora's 4-bit kernels
    assert rows["CUDA devices"].strip()
    assert rows["sandbox"].strip()  # what validation runs in: namespaces, or none
    assert f"backend openai:{url}: answers; models: coder-x, coder-y\n" in result.stdout
    assert rows["task packages"].strip() == "every task's installed"
    assert rows["to install"].strip() == "nothing: ready to generate and validate"


def test_doctor_says_when_the_backend_is_not_usable(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_scriptgen(
        "doctor", "--llm", f"openai:http://127.0.0.1:{port}/v1", cwd=tmp_path
    )
    assert result.returncode == 0
    assert "NOT usable: openai backend: cannot reach" in result.stdout
    result = run_scriptgen("doctor", "--llm", "telepathy:x", cwd=tmp_path)
    assert "NOT usable: unknown backend 'telepathy'" in result.stdout


def test_doctor_says_how_to_add_a_package_of_its_own_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bitsandbytes comes with the qlora extra, not ml: where it is missing, its row says
    what needs it and what to install; a missing package of the ml extra says less."""
    from importlib import metadata

    from scriptgen import doctor

    def version(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(doctor.metadata, "version", version)
    assert doctor._version("bitsandbytes") == (
        "not installed (training.method qlora needs it: "
        "pip install 'scriptgen[qlora]')"
    )
    assert doctor._version("peft") == "not installed"


def test_doctor_names_a_tasks_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """A package a task's projects need (tokclf's seqeval) that this interpreter lacks, or
    has too old, is named with its task, and the install hint follows."""
    from scriptgen import doctor

    def missing(python: str = "", needs: tuple = ()) -> list[str]:
        return ["seqeval>=1.2 (has 1.0.0)"] if "seqeval>=1.2" in needs else []

    monkeypatch.setattr(doctor, "missing_ml_stack", missing)
    monkeypatch.setattr(doctor, "_gpus", lambda: "none")
    rows = dict(doctor.report())
    assert rows["task packages"] == "tokclf needs seqeval>=1.2 (has 1.0.0)"
    assert rows["to install"] == doctor.INSTALL_HINT
