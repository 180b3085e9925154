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
