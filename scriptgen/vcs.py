"""Commit what scriptgen wrote, and nothing else, to the user's git repository.

The user may have staged work of their own when they run scriptgen. ``git commit`` (and
GitPython's ``index.commit``) would sweep that into our commit, so the commit is built with
plumbing on a temporary index: read-tree HEAD, add our paths, write-tree, commit-tree,
update-ref. The real index is then brought in line for our paths only.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# GitPython refuses to be imported where there is no git executable unless told to stay
# quiet; scriptgen then works and skips its commits (as `scriptgen doctor` says).
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
import git  # noqa: E402

from .errors import ScriptgenError  # noqa: E402
from .lock import META_DIR  # noqa: E402

if TYPE_CHECKING:
    from .backends import Backend
    from .planning import Plan
    from .report import ValidationReport

# Used when git cannot tell who is committing (see `_identity_env`).
FALLBACK_NAME = "scriptgen"
FALLBACK_EMAIL = "scriptgen@localhost"

_STDERR_TAIL_LINES = 20


@dataclass(frozen=True)
class CommitResult:
    sha: str
    message: str


def git_available() -> bool:
    """Whether there is a git executable to commit with."""
    return (
        shutil.which(os.environ.get("GIT_PYTHON_GIT_EXECUTABLE") or "git") is not None
    )


def find_repo(path: Path) -> git.Repo | None:
    """The non-bare repository whose working tree holds ``path``, or None.

    ``path`` need not exist yet (the project folder is created later): the search starts
    from its nearest existing ancestor.
    """
    if not git_available():
        return None
    start = Path(path).absolute()
    while not start.exists() and start != start.parent:
        start = start.parent
    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    # A bare repository has no working tree to write a project into.
    if repo.bare or repo.working_tree_dir is None:
        return None
    return repo


def in_precommit() -> bool:
    """True when scriptgen runs inside a commit hook, where it must write but not commit.

    Relies on two variables:

    - ``PRE_COMMIT=1``: the pre-commit framework sets it for every hook it runs, whether
      from git's hook or from ``pre-commit run`` (pre-commit 4.x,
      ``pre_commit/commands/run.py``: ``environ['PRE_COMMIT'] = '1'``).
    - ``GIT_INDEX_FILE``: git itself exports it to the hooks of ``git commit``
      (pre-commit, prepare-commit-msg, commit-msg), with or without the framework. Moving
      HEAD there would make the user's own commit fail ("cannot lock ref 'HEAD'"). Someone
      who sets it by hand also gets write-only behaviour: the safe side.
    """
    return os.environ.get("PRE_COMMIT") == "1" or bool(os.environ.get("GIT_INDEX_FILE"))


def commit_message(
    verb: str,
    name: str,
    task: str,
    model: str,
    trailers: Mapping[str, str],
    body: str = "",
) -> str:
    """``scriptgen: <verb> <name> (<task>, <model>)``, a blank line, the body if any,
    then the trailers.

    Trailers keep their order. A key must be a single token and a value a single line,
    or git's trailer parser would read something else than what we meant.
    """
    subject = f"scriptgen: {verb} {name} ({task}, {model})"
    if "\n" in subject:
        raise ValueError(f"commit subject must be one line: {subject!r}")
    lines = []
    for key, value in trailers.items():
        if not key or any(c.isspace() or c == ":" for c in key):
            raise ValueError(f"invalid trailer key: {key!r}")
        if "\n" in value or "\r" in value:
            raise ValueError(f"trailer {key} must be one line: {value!r}")
        lines.append(f"{key}: {value}")
    head = subject + ("\n\n" + body.strip("\n") if body.strip() else "")
    if not lines:
        return head + "\n"
    return head + "\n\n" + "\n".join(lines) + "\n"


def commit_paths(
    repo: git.Repo, paths: Sequence[Path], message: str
) -> CommitResult | None:
    """Commit exactly ``paths`` on top of HEAD; return None when they match HEAD already.

    ``paths`` are files or folders, absolute or relative to the working tree root. What is
    committed for them is the working tree: new and changed files, and deletions of tracked
    files that are gone from disk. Files that ``.gitignore`` ignores are left out, as with
    ``git add``; a path that matches nothing on disk nor in HEAD is an error.

    The user's staged changes outside ``paths`` are neither committed nor unstaged. Staged
    changes *inside* ``paths`` give way to the working tree: scriptgen's files are what
    gets committed, and afterwards the index holds them too, so ``git status`` shows
    ``paths`` clean.

    Identity: the user's (``user.name``/``user.email``, ``author.*``/``committer.*``,
    ``GIT_AUTHOR_*``/``GIT_COMMITTER_*``). When git has none configured for the author or
    the committer, that one becomes ``scriptgen <scriptgen@localhost>`` instead of failing,
    and git's guess from the host name (often ``root@host.(none)``) is not used.
    ``commit.gpgSign`` is honoured.

    The user's commit hooks (pre-commit, commit-msg, post-commit) do not run: the commit is
    made with plumbing. Only the reference-transaction hook, which git runs for any ref
    update, does. Callers decide whether to commit at all (``in_precommit``).

    Raises ScriptgenError when a git command fails, with its command, exit code and stderr.
    """
    if not paths:
        # `git add -A --` with no pathspec would take the whole working tree.
        raise ValueError("commit_paths needs at least one path")
    if repo.working_tree_dir is None:
        raise ScriptgenError(
            f"{repo.git_dir} is a bare repository: nothing to commit from"
        )
    root = Path(repo.working_tree_dir)
    pathspecs = [_pathspec(root, Path(p)) for p in paths]
    # Read HEAD once: it is both the parent and the value update-ref must still find.
    parent = repo.head.commit.hexsha if repo.head.is_valid() else None
    # Names with `*`, `[` or a leading `:` are file names, not patterns or pathspec magic.
    add_env = {"GIT_LITERAL_PATHSPECS": "1"}

    with tempfile.TemporaryDirectory(prefix="scriptgen-commit-") as tmp:
        index_env = {**add_env, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
        if parent is not None:
            _git(repo, "read-tree", parent, env=index_env)
        _git(repo, "add", "-A", "--", *pathspecs, env=index_env)
        tree = _git(repo, "write-tree", env=index_env)

        unchanged = (
            tree == repo.head.commit.tree.hexsha
            if parent is not None
            else not _git(repo, "ls-files", env=index_env)
        )
        sha = None
        if not unchanged:
            message_file = os.path.join(tmp, "message")
            with open(message_file, "w", encoding="utf-8", newline="\n") as f:
                f.write(message if message.endswith("\n") else message + "\n")
            sign = ["-S"] if _config_bool(repo, "commit.gpgSign") else []
            parents = ["-p", parent] if parent is not None else []
            # -F: commit-tree stores the file verbatim (no comment stripping, no cleanup).
            sha = _git(
                repo,
                "commit-tree",
                *sign,
                *parents,
                "-F",
                message_file,
                tree,
                env=_identity_env(repo),
            )
            subject = message.split("\n", 1)[0]
            reflog = f"commit{'' if parent else ' (initial)'}: {subject}"
            # update-ref on HEAD moves the branch HEAD points to (or HEAD itself when
            # detached, or creates the branch when unborn). The old value makes a
            # concurrent commit fail here rather than be silently dropped; "" means the
            # ref must not exist yet.
            _git(repo, "update-ref", "-m", reflog, "HEAD", sha, parent or "")

    # The real index still holds the old versions of our paths (or none): without this,
    # `git status` would show the commit undone as staged changes.
    try:
        _git(repo, "add", "-A", "--", *pathspecs, env=add_env)
    except ScriptgenError as e:
        if sha is None:
            raise
        raise ScriptgenError(
            f"committed {sha[:12]}, but could not update the index for its paths; "
            f"run `git reset -q -- {shlex.join(pathspecs)}` to fix `git status`.\n{e}"
        ) from e
    if sha is None:
        return None
    return CommitResult(sha=sha, message=message)


def _pathspec(root: Path, path: Path) -> str:
    """``path`` as a POSIX path relative to the working tree root."""
    full = path if path.is_absolute() else root / path
    # Resolve only the parent: the path itself may be a symlink (committed as a link) or
    # a deleted file, while the parent may sit behind a symlink (macOS's /var -> /private).
    resolved = os.path.normpath(os.path.join(os.path.realpath(full.parent), full.name))
    relative = os.path.relpath(resolved, os.path.realpath(root))
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        raise ScriptgenError(f"{path} is outside the repository at {root}")
    return Path(relative).as_posix()


def _identity_env(repo: git.Repo) -> dict[str, str]:
    """Fallback identity variables for the roles git has no configured identity for."""
    env: dict[str, str] = {}
    for role in ("AUTHOR", "COMMITTER"):
        # useConfigOnly: git must not invent "root@host.(none)" from the host name; it
        # still honours GIT_<ROLE>_NAME/EMAIL, <role>.name/email and user.name/email.
        status, _, _ = repo.git.execute(
            ["git", "-c", "user.useConfigOnly=true", "var", f"GIT_{role}_IDENT"],
            with_extended_output=True,
            with_exceptions=False,
        )
        if status != 0:
            env[f"GIT_{role}_NAME"] = FALLBACK_NAME
            env[f"GIT_{role}_EMAIL"] = FALLBACK_EMAIL
    return env


def _config_bool(repo: git.Repo, key: str) -> bool:
    status, stdout, _ = repo.git.execute(
        ["git", "config", "--type=bool", "--get", key],
        with_extended_output=True,
        with_exceptions=False,
    )
    # Exit 1 means unset; anything else unparsable counts as false, as for git commit.
    return status == 0 and stdout.strip() == "true"


def _git(repo: git.Repo, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run ``git <args>`` in the working tree; stdout without its trailing newline."""
    command = ["git", *args]
    # GitPython merges `env` over os.environ (and sets LC_ALL=C, so stderr is English).
    status, stdout, stderr = repo.git.execute(
        command,
        with_extended_output=True,
        with_exceptions=False,
        env=dict(env) if env is not None else None,
    )
    if status != 0:
        tail = "\n".join(stderr.strip().splitlines()[-_STDERR_TAIL_LINES:])
        raise ScriptgenError(
            f"git command failed: {shlex.join(command)}\n"
            f"return code: {status}\n"
            f"stderr: {tail or '(none)'}"
        )
    return stdout.strip()


# Commits of projects regenerated in parallel (`regen --jobs`) go one at a time: each
# moves HEAD, and git refuses a move from a HEAD that changed meanwhile.
_COMMITTING = threading.Lock()


def commit_generation(
    plan: Plan,
    backend: Backend,
    report: ValidationReport | None,
    *,
    verb: str,
    paths: list[Path],
    notices: list[str],
) -> CommitResult | None:
    """Commit ``paths`` (what scriptgen wrote) with the provenance trailers; never inside
    a commit hook, and only with a note outside a git repository. Says what it did in
    ``notices``."""
    repo = find_repo(plan.target)
    if repo is None:
        notices.append(
            f"{plan.target.parent} is not in a git repository: not committing"
            if git_available()
            else "no git executable found: written, not committed"
        )
        return None
    if in_precommit():
        notices.append("inside a pre-commit run: written, not committed")
        return None
    trailers = {
        "Scriptgen-Task": plan.manifest.name,
        "Scriptgen-Model": plan.model_label,
        "Scriptgen-Backend": backend.name
        + (f" ({backend.model})" if backend.model else ""),
        "Scriptgen-Spec-Hash": plan.spec_hash,
        "Scriptgen-Validation": (
            report.summary() if report else "skipped (--no-validate)"
        ),
    }
    alias = plan.model.alias or Path(plan.model.name_or_path).name
    body = "".join(
        f"- {' '.join(r.split())}\n" for r in plan.spec.requirements
    )  # one line each, as the user gave them
    if body:
        body = (
            "Requirements:\n" + body
            + f"\nThe diff from the reference: {META_DIR}/changes.diff in the project.\n"
        )  # fmt: skip
    message = commit_message(
        verb, plan.spec.name, plan.manifest.name, alias, trailers, body
    )
    with _COMMITTING:
        commit = commit_paths(repo, paths, message)
    if commit is None:
        notices.append("nothing changed: no commit")
    else:
        notices.append(f"committed {commit.sha[:10]}: {message.splitlines()[0]}")
    return commit
