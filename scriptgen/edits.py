"""Search/replace edits out of an LLM reply, applied to the project's files.

The format code models are trained on (aider's): the file's path on a line of its own,
then::

    <<<<<<< SEARCH
    the exact lines to change
    =======
    the lines that replace them
    >>>>>>> REPLACE

usually inside a fence. An empty SEARCH makes a new file. Applying forgives what models
get wrong without changing meaning: a missing final newline, trailing spaces, the whole
block indented more or less than the file (the replacement is re-indented alike), and
unchanged stretches elided with a ``...`` line on both sides. A block that matches
nothing, or more than one place, is not applied: its diagnostic (with the nearest lines
of the file, for the repair turn) says why. Paths under ``.scriptgen/`` (the judge, the
lock) and paths outside the project are refused. A block that names no file it may
change (small models drop the path line, or put a word on it), or whose lines stand
nowhere in the file it names, applies to the one file it may change whose lines its
SEARCH quotes; where none or several do, it is not applied.

Edits apply one after another, each to the text the ones before it left, as a person
would apply them by hand.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from .checks import safe_relpath
from .lock import META_DIR
from .parse import path_from_line, parse_reply

_SEARCH = re.compile(r"^\s*<{5,9} ?SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r">{5,9} ?REPLACE\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_ELISION = "..."
_NOT_ALLOWED = "refused: not a file this change may touch"
_MATCHES_NOTHING = "the SEARCH lines match nothing in the file"
_NO_FILE = "no such file (an empty SEARCH makes a new one)"
_NO_PATH = "a SEARCH block names no file (put its path on the line before)"
# What a block that may belong in another file is told: where it names a file it may not
# change, one that is not there, or one its SEARCH lines are not in.
_ELSEWHERE = (_NOT_ALLOWED, _MATCHES_NOTHING, _NO_FILE)
# Lines of the file shown around a SEARCH block that matches nothing.
_SHOWN = 12


@dataclass(frozen=True)
class Edit:
    path: str  # "" where the reply named none
    search: str  # "" makes a new file
    replace: str
    line: int  # of the reply, 1-based: where the block starts


@dataclass
class Applied:
    """What a reply changed: the new text of each changed file, what could not be
    applied (one diagnostic per failure, for the user and the repair turn), and how."""

    files: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    edits: int = 0  # blocks applied
    whole_files: list[str] = field(default_factory=list)  # sent whole, not as edits


def parse_edits(reply: str) -> tuple[list[Edit], list[str]]:
    """The SEARCH/REPLACE blocks of ``reply`` in order, and what could not be read."""
    lines = reply.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    edits: list[Edit] = []
    problems: list[str] = []
    path: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if not _SEARCH.match(line):
            if line.strip() and not _FENCE.match(line):
                path = path_from_line(line) or path
            i += 1
            continue
        start = i + 1
        divider = next(
            (j for j in range(start, len(lines)) if _DIVIDER.match(lines[j])), None
        )
        end = (
            next(
                (
                    j
                    for j in range(divider + 1, len(lines))
                    if _REPLACE.search(lines[j])
                ),
                None,
            )
            if divider is not None
            else None
        )
        if divider is None or end is None:
            problems.append(
                f"reply line {start}: a SEARCH block without its ======= and >>>>>>> REPLACE lines"
            )
            break
        # A REPLACE marker at the end of a content line: the line before it is content.
        tail = _REPLACE.sub("", lines[end])
        replace = lines[divider + 1 : end] + ([tail] if tail.strip() else [])
        edits.append(
            Edit(
                (path or "").removeprefix("./"),
                _text(lines[start:divider]),
                _text(replace),
                start,
            )
        )
        i = end + 1
    return edits, problems


def _text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def apply_reply(
    reply: str,
    files: Mapping[str, str],
    allowed: Collection[str],
    can_create: Callable[[str], bool] = lambda path: False,
) -> Applied:
    """Apply what ``reply`` asks of ``files`` (path -> text): its SEARCH/REPLACE blocks,
    or, where it has none, the whole files it sends. ``allowed``: the paths it may
    change; ``can_create``: whether a new file may be made at a path."""
    edits, problems = parse_edits(reply)
    result = Applied(problems=problems)
    if not edits and not problems:
        whole = parse_reply(reply, allowed)
        result.files = {p: t for p, t in whole.files.items() if t != files.get(p)}
        result.whole_files = sorted(whole.files)
        result.problems = [] if whole.files else whole.problems
        return result
    current = dict(files)
    for edit in edits:
        path, text, problem = edit.path, "", _NO_PATH
        if path:
            problem = _refused(path, allowed, can_create, path in current)
            if problem is None:
                text, problem = apply_edit(current.get(path), edit)
        if problem is not None and (not path or problem.startswith(_ELSEWHERE)):
            # It names no file it may change, or its lines are not in the one it names:
            # the one file it may change that holds them, as aider does.
            holders = _holders(edit, current, allowed)
            if len(holders) == 1:
                (path, text), problem = holders[0], None
            elif holders and not path:
                problem += (
                    f"; its SEARCH lines stand in {', '.join(p for p, _ in holders)}"
                )
        if problem is None:
            current[path] = text
            result.edits += 1
            continue
        where = (
            f"{path} (reply line {edit.line})" if path else f"reply line {edit.line}"
        )
        result.problems.append(f"{where}: {problem}")
    result.files = {p: t for p, t in current.items() if t != files.get(p)}
    return result


def _holders(
    edit: Edit, current: Mapping[str, str], allowed: Collection[str]
) -> list[tuple[str, str]]:
    """(path, text with the edit applied) of each file other than the one ``edit`` names
    that it may change and whose lines its SEARCH quotes."""
    if not edit.search.strip():
        return []
    found = []
    for path in sorted(allowed):
        if (
            path in current
            and path != edit.path
            and not path.startswith(META_DIR + "/")
        ):
            text, problem = apply_edit(current[path], edit)
            if problem is None:
                found.append((path, text))
    return found


def _refused(
    path: str, allowed: Collection[str], can_create: Callable[[str], bool], exists: bool
) -> str | None:
    try:
        safe_relpath(path)
    except ValueError as exc:
        return f"refused: {exc}"
    if path == META_DIR or path.startswith(META_DIR + "/"):
        return "refused: scriptgen's own files (the judge, the lock) are not the project's code"
    if path in allowed or (not exists and can_create(path)):
        return None
    return f"{_NOT_ALLOWED} ({', '.join(sorted(allowed))})"


def apply_edit(text: str | None, edit: Edit) -> tuple[str, str | None]:
    """``text`` with ``edit`` applied, or (``text``, why not)."""
    if not edit.search.strip():
        if text is not None:
            return (
                text or "",
                "an empty SEARCH makes a new file, and this one exists: quote the lines to change",
            )
        return edit.replace, None
    if text is None:
        return "", _NO_FILE
    if _ELISION in (line.strip() for line in edit.search.splitlines()):
        return _apply_elided(text, edit)
    return _replace_once(text, edit.search, edit.replace)


def _apply_elided(text: str, edit: Edit) -> tuple[str, str | None]:
    """A block whose unchanged stretches are elided with ``...`` on both sides: each
    piece between them is an edit of its own, applied in order."""
    searches, replaces = _pieces(edit.search), _pieces(edit.replace)
    if len(searches) != len(replaces):
        return text, "SEARCH and REPLACE elide (...) a different number of stretches"
    for search, replace in zip(searches, replaces):
        if not search.strip():
            continue
        text, problem = _replace_once(text, search, replace)
        if problem is not None:
            return text, problem
    return text, None


def _pieces(block: str) -> list[str]:
    pieces: list[list[str]] = [[]]
    for line in block.splitlines():
        if line.strip() == _ELISION:
            pieces.append([])
        else:
            pieces[-1].append(line)
    return [_text(piece) for piece in pieces]


def _replace_once(text: str, search: str, replace: str) -> tuple[str, str | None]:
    """Replace the one place ``search`` stands in ``text``: exactly, else line by line
    with trailing spaces and a uniform shift of indentation forgiven."""
    source = text if text.endswith("\n") else text + "\n"
    # Whole lines only: "x = 1" is not the end of "max = 1".
    count = ("\n" + source).count("\n" + search)
    if count == 1:
        return ("\n" + source).replace("\n" + search, "\n" + replace, 1)[1:], None
    lines = source.splitlines()
    wanted = search.splitlines()
    while wanted and not wanted[-1].strip():
        wanted.pop()
    while wanted and not wanted[0].strip():
        wanted.pop(0)
    if not wanted:
        return text, "the SEARCH lines are all blank"
    found = [
        (start, shift)
        for start in range(len(lines) - len(wanted) + 1)
        if (shift := _shift(lines[start : start + len(wanted)], wanted)) is not None
    ]
    if len(found) == 1:
        start, shift = found[0]
        new = [_reindent(line, shift) for line in replace.splitlines()]
        lines[start : start + len(wanted)] = new
        return "\n".join(lines) + "\n", None
    if found or count > 1:
        places = [s + 1 for s, _ in found] or _line_numbers(source, search)
        shown = ", ".join(str(p) for p in places[:5])
        return text, (
            f"the SEARCH lines stand in {len(places)} places (lines {shown}): "
            "include more lines around the change to tell them apart"
        )
    return text, _nearest(lines, wanted)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _shift(window: list[str], wanted: list[str]) -> int | None:
    """How many columns ``window`` stands right of ``wanted`` (negative: left), when
    they are the same lines but for that and trailing spaces; None otherwise."""
    shift: int | None = None
    for have, want in zip(window, wanted):
        if not want.strip():
            if have.strip():
                return None
            continue
        if have.strip() != want.strip() or "\t" in have[: _indent(have) + 1]:
            return None
        delta = _indent(have) - _indent(want)
        if shift is None:
            shift = delta
        elif delta != shift:
            return None
    return shift


def _reindent(line: str, shift: int) -> str:
    if not line.strip() or shift == 0:
        return line.rstrip()
    if shift > 0:
        return " " * shift + line.rstrip()
    return line[min(-shift, _indent(line)) :].rstrip()


def _line_numbers(source: str, search: str) -> list[int]:
    hay, needle = "\n" + source, "\n" + search
    out, at = [], hay.find(needle)
    while at != -1:
        out.append(hay.count("\n", 0, at) + 1)
        at = hay.find(needle, at + 1)
    return out


def _nearest(lines: list[str], wanted: list[str]) -> str:
    """The diagnostic of a block that matches nothing: the file's lines most like it."""
    target = "\n".join(line.strip() for line in wanted)
    best, best_ratio = 0, -1.0
    size = len(wanted)
    for start in range(max(1, len(lines) - size + 1)):
        window = "\n".join(line.strip() for line in lines[start : start + size])
        ratio = difflib.SequenceMatcher(None, target, window, autojunk=False).ratio()
        if ratio > best_ratio:
            best, best_ratio = start, ratio
    end = min(len(lines), best + max(size, 1) + 2)
    first = max(0, best - 2)
    shown = "\n".join(f"{n + 1:5d}  {lines[n]}" for n in range(first, end)[:_SHOWN])
    return (
        f"{_MATCHES_NOTHING}; the nearest lines are "
        f"{first + 1}-{min(end, first + _SHOWN)}:\n{shown}"
    )
