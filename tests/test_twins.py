"""The judge's twins: a shipped twin of the key the build code gives is taken as it is;
a key that does not match (the build code changed) is built, cached, and its build
recorded; `make twins` ships every build of a cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from scriptgen import twins

from .conftest import generate_reference, import_file, run_scriptgen


@pytest.fixture(scope="module")
def twin_module(tmp_path_factory: pytest.TempPathFactory):
    """A rendered judge's twin.py, imported as the judge imports it."""
    project = generate_reference(tmp_path_factory.mktemp("reference"), "textclf")
    assert run_scriptgen("judge", str(project), cwd=project).returncode == 0
    path = project / ".scriptgen" / "judge" / "twin.py"
    yield import_file(path, "judge_twin_under_test")
    del sys.modules["judge_twin_under_test"]


def make(folder: Path) -> Path:
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def make_changed(folder: Path) -> Path:
    (folder / "model.safetensors").write_bytes(b"other weights")
    return folder


def test_a_shipped_twin_is_taken_and_a_changed_build_is_built(
    twin_module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, shipped = tmp_path / "cache", tmp_path / "ready_twins"
    cache.mkdir()
    monkeypatch.setenv("SCRIPTGEN_TWIN_CACHE", str(cache))
    monkeypatch.setenv("SCRIPTGEN_TWINS_SHIPPED", "")
    twin_module.TWINS.clear()

    built = twin_module.cached_twin(make, tmp_path / "scratch", "words", 7)
    assert (
        built.parent == cache
        and (built / "model.safetensors").read_bytes() == b"weights"
    )
    record = json.loads((built / twins.BUILD_RECORD).read_text())
    (key,) = twin_module.TWINS
    assert twin_module.TWINS[key]["source"] == "built"
    assert record["key"] == key and record["seconds"] >= 0
    assert twin_module.cached_twin(make, tmp_path / "scratch", "words", 7) == built
    assert twin_module.TWINS[key]["source"] == "cached"

    # Shipped from that cache, under the same key: taken from the shipped folder.
    installed = twins.SHIPPED
    monkeypatch.setattr(twins, "SHIPPED", shipped)
    assert [k for k, _, _ in twins.ship(cache)] == [key]
    monkeypatch.setenv("SCRIPTGEN_TWINS_SHIPPED", str(shipped))
    found = twin_module.cached_twin(make, tmp_path / "scratch", "words", 7)
    assert found == shipped / key
    # Run by hand (no SCRIPTGEN_TWINS_SHIPPED): the installed scriptgen's shipped twins.
    monkeypatch.delenv("SCRIPTGEN_TWINS_SHIPPED")
    assert Path(twin_module.shipped_twins()) == installed
    assert twin_module.TWINS[key] == {"source": "shipped", "seconds": record["seconds"]}

    # Changed build code, or changed material: a key of its own, built anew.
    for changed, material in ((make_changed, ("words", 7)), (make, ("words", 8))):
        twin_module.TWINS.clear()
        other = twin_module.cached_twin(changed, tmp_path / "scratch", *material)
        assert other.parent == cache and other != built
        assert [t["source"] for t in twin_module.TWINS.values()] == ["built"]


def test_ship_takes_every_recorded_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    for name, seconds in (("a", 40.0), ("b", 2.0), ("c", 15.0)):
        folder = cache / f"folder-{name}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        record = {"key": f"key-{name}", "seconds": seconds, "versions": []}
        (folder / twins.BUILD_RECORD).write_text(json.dumps(record))
    (cache / "no-record").mkdir()
    shipped = tmp_path / "ready_twins"
    (shipped / "stale").mkdir(parents=True)
    monkeypatch.setattr(twins, "SHIPPED", shipped)

    assert [k for k, _, _ in twins.ship(cache)] == ["key-a", "key-b", "key-c"]
    assert sorted(p.name for p in shipped.iterdir()) == ["key-a", "key-b", "key-c"]
    assert (shipped / "key-a" / "config.json").is_file()
    monkeypatch.setenv("SCRIPTGEN_BUILD_TWINS", "1")
    assert twins.offered() is None
    monkeypatch.delenv("SCRIPTGEN_BUILD_TWINS")
    assert twins.offered() == shipped
