"""The README's task table says what the catalog declares: every (task, family) row, with
exactly its methods, and each task's data keys."""

from __future__ import annotations

import re

from scriptgen.catalog import catalog

from .conftest import REPO


def table_rows() -> dict[tuple[str, str], set[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Tasks, families and methods", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`\w+`", cells[0]):
            family = cells[1].split()[0].strip("`")
            rows[cells[0].strip("`"), family] = {
                m.strip("` ") for m in cells[2].split(",")
            }
    return rows


def test_the_task_table_matches_the_catalog() -> None:
    declared = {
        (task["name"], family): set(methods)
        for task in catalog()["tasks"]
        for family, methods in task["families"].items()
    }
    assert table_rows() == declared


def test_every_data_key_is_documented() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    for task in catalog()["tasks"]:
        for key in task["data"]["keys"]:
            assert f"`{key}`" in text, f"{task['name']}: data.{key} not in the README"
