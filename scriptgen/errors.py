"""One exception root; the CLI maps each kind to an exit code in one place."""

from __future__ import annotations


class ScriptgenError(Exception):
    """Base of every error scriptgen raises on purpose."""

    exit_code = 1


class UserError(ScriptgenError):
    """Bad input: the message says what to do. Exit code 2, nothing written."""

    exit_code = 2


class ValidationFailed(ScriptgenError):
    """The candidate project failed its checks or its contract tests. Exit code 1."""

    exit_code = 1


class MissingDependency(ScriptgenError):
    """An optional dependency is needed for this command. Exit code 2."""

    exit_code = 2


# An error line shows this much of a value the user gave: enough to find it, never the
# whole of a value that may be huge (a YAML alias that expands to millions of elements).
SHOWN_CHARS = 60


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters, built without walking more of
    ``value`` than it shows."""
    import reprlib

    cut = reprlib.Repr()
    cut.maxlevel, cut.maxstring, cut.maxother, cut.maxlong = 3, limit, limit, limit
    cut.maxlist = cut.maxtuple = cut.maxdict = cut.maxset = 6
    text = cut.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
