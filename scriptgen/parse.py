"""Files out of an LLM reply: `### path` then one fenced block per file, and the variants
models really write.

The reply is scanned line by line, never with a regex across lines: gpt-engineer's
non-greedy ```` ```(.*?)``` ```` cut a file at the first fence inside it. Fences follow
CommonMark: a block opened by N backticks (or tildes) closes only at a line holding a run
of at least N of the same character and nothing else, indented at most 3 columns more
than the opening fence. So a file containing ```` ``` ```` comes back whole inside a
longer fence, which is what the prompt asks for (:func:`choose_fence`).

The ambiguous case is a model that ignores that and wraps, in a plain ```` ``` ```` fence,
a file whose docstring holds a bare ```` ``` ```` line at column 0-3: CommonMark closes the
block there, and so do we. The cut file then fails the syntax check with file:line, and a
repair round asks again; guessing which fence was meant would misparse well-formed replies.
A ```` ```python ```` line never closes a block (a closing fence has no info string), and a
nested example indented 4 or more columns is content, as in CommonMark.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from .checks import safe_relpath

# Any indentation, not CommonMark's 0-3: models indent whole blocks under list items.
_FENCE = re.compile(r"(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)")
# Backtick runs that could be read as fences; tildes cannot close a backtick fence, and
# file_block only writes backtick fences, so they need not be counted.
_LINE_START_TICKS = re.compile(r"^[ \t]*(`+)", re.MULTILINE)
# A path token: no spaces or markup; "!" excluded so that a shebang is not a path.
_PATH = re.compile(r"[\w./~-][^\s`*'\"<>|]*")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]*$")
_LABEL = re.compile(r"^(?:file|filename|file name|path)\s*:\s*", re.IGNORECASE)
_HEADING_OR_ITEM = re.compile(r"^(?:#{1,6}\s*|(?:[-*+]|\d+[.)])\s+)")
_INFO_KEY = re.compile(
    r"\b(?:title|file|filename|path)\s*=\s*[\"']?(?P<path>[^\"'\s]+)", re.IGNORECASE
)
_FIRST_LINE = re.compile(
    r"\s*#\s*(?:(?:file|filename|path)\s*:\s*)?(?P<path>\S+)\s*", re.IGNORECASE
)
_LANGUAGES = {
    ".py": "python",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".toml": "toml",
    ".md": "markdown",
    ".txt": "text",
    ".cfg": "ini",
    ".sh": "bash",
}


@dataclass(frozen=True)
class ParsedReply:
    files: dict[str, str]  # project-relative path -> text ending with exactly one "\n"
    problems: list[str] = field(default_factory=list)  # one line each


def choose_fence(text: str) -> str:
    """Backticks, longer than any run that starts a line of ``text`` (aider's habit)."""
    longest = max(
        (len(m.group(1)) for m in _LINE_START_TICKS.finditer(text)), default=0
    )
    return "`" * max(3, longest + 1)


def file_block(path: str, text: str) -> str:
    """``text`` as the prompt asks the model to send a file; parse_reply reads it back."""
    fence = choose_fence(text)
    suffix = path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""
    body = text if text.endswith("\n") else text + "\n"
    return f"### {path}\n{fence}{_LANGUAGES.get(suffix, '')}\n{body}{fence}\n"


def _looks_like_path(token: str) -> bool:
    # A bare word ("Setup", "python") is prose or a language, not a file.
    return (
        _PATH.fullmatch(token) is not None
        and not token.endswith("/")
        and ("/" in token or _EXTENSION.search(token) is not None)
    )


def path_from_line(line: str) -> str | None:
    """The path a line outside blocks names: `### train.py`, `**train.py**`, `File: x`..."""
    text = _HEADING_OR_ITEM.sub("", line.strip())
    # Markup nests in any order (`**File:** `train.py``), so peel it a few times over.
    for _ in range(3):
        text = _LABEL.sub("", text.strip().strip("*`'\"").strip())
        text = text.rstrip(":").strip()
    return text if _looks_like_path(text) else None


def _path_from_info(info: str) -> str | None:
    """The path in a fence's info string: `python train.py`, `train.py`, `title="x"`."""
    if match := _INFO_KEY.search(info):
        return match.group("path")
    return next((t for t in info.split() if _looks_like_path(t)), None)


def _closes(line: str, char: str, length: int, indent: int) -> bool:
    stripped = line.lstrip(" \t")
    run = len(stripped) - len(stripped.lstrip(char))
    return (
        run >= length
        and not stripped[run:].strip()
        and len(line) - len(stripped) <= indent + 3
    )


def _dedent(line: str, width: int) -> str:
    # CommonMark removes the opening fence's indentation from each content line (a block
    # inside a list item is indented as a whole), but never more than the line's own.
    strip = len(line[:width]) - len(line[:width].lstrip(" \t"))
    return line[strip:]


def parse_reply(reply: str, allowed: Collection[str]) -> ParsedReply:
    """The files ``reply`` sends, limited to ``allowed``; whatever was refused, in problems.

    A block's path comes from its fence's info string, else from the last non-blank line
    before the fence, else from a `# file: path` comment as its first line (removed).
    """
    lines = reply.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    files: dict[str, str] = {}
    problems: list[str] = []
    named: str | None = None  # path named by the last non-blank line outside a block
    blocks = 0
    i = 0
    while i < len(lines):
        opening = _FENCE.fullmatch(lines[i])
        fence = opening.group("fence") if opening else ""
        if opening is None or (fence[0] == "`" and "`" in opening.group("info")):
            # Not a fence (CommonMark: a backtick fence's info has no backtick).
            if lines[i].strip():
                named = path_from_line(lines[i])
            i += 1
            continue
        blocks += 1
        start, indent = i + 1, len(opening.group("indent"))
        end = start
        while end < len(lines) and not _closes(
            lines[end], fence[0], len(fence), indent
        ):
            end += 1
        body = [_dedent(line, indent) for line in lines[start:end]]
        closed = end < len(lines)
        path = _path_from_info(opening.group("info")) or named
        named, i = None, end + 1
        if path is None and body and (first := _FIRST_LINE.fullmatch(body[0])):
            if _looks_like_path(first.group("path")):
                # Blank lines after the path comment were spacing for it, not file content.
                path, body = first.group("path"), body[1:]
                while body and not body[0].strip():
                    body = body[1:]
        if path is None:
            problems.append(f"line {start}: a fenced block names no file; ignored")
            continue
        while path.startswith("./"):
            path = path[2:]
        if not closed:
            # Most often the reply hit max tokens: keep the file, so that the check stage
            # reports the real syntax error with file:line.
            problems.append(f"unclosed fence for {path}")
        try:
            safe_relpath(path)
        except ValueError as exc:
            problems.append(f"refused {path}: {exc}")
            continue
        if path not in allowed:
            expected = ", ".join(sorted(allowed))
            problems.append(
                f"refused {path}: not a code file of this project ({expected})"
            )
            continue
        if path in files:
            problems.append(f"{path} sent twice; the later block wins")
        files[path] = "\n".join(body).rstrip("\n") + "\n"
    if not files:
        problems.append(
            "no usable file in the reply" if blocks else "no fenced block in the reply"
        )
    return ParsedReply(files, problems)
