"""How an LLM changes the vetted reference to meet a user's requirements, and how what it
changed is recorded (``changes``).

Two requests at most, then repairs: first the requirements against the project's declared
settings (a JSON reply, constrained by a schema where the server can), written into
``config.yaml`` by scriptgen; then, for what no setting meets, SEARCH/REPLACE edits of the
code (``edits``), with a prompt built to the model's context: the contracts, a map of every
code file, and the full text of the files the change most likely touches.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .changes import CONFIG, config_values
from .definitions import defined_names
from .lock import META_DIR
from .parse import file_block
from .planning import Plan
from .prompts import repair_message
from .render import render
from .settings import (
    Setting,
    check_changes,
    declared_settings,
    json_part,
    reply_schema,
)

# A reply asking to see files it was not shown: "SHOW data.py".
_SHOW = re.compile(r"^\s*SHOW\s+`?([\w./-]+\.\w+)`?\s*$", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_HELP_CHARS = 70  # of each TrainingArguments field's help, in the settings prompt


def settings_request(
    plan: Plan, files: Mapping[str, str], requirements: Sequence[str]
) -> tuple[list[dict[str, str]], dict[str, Any], dict[str, Setting]]:
    """The settings request's messages, the reply's JSON schema and the declared settings.

    The reply gives each requirement the settings that meet it; the list of settings
    and the config come first in the prompt and the requirements last, so that a server
    that caches prompts (llama.cpp) reads only the requirements again on the next run.
    """
    declared = declared_settings(files["train.py"])
    pairs = reply_schema(declared)["properties"]["settings"]
    schema = {
        "type": "object",
        "properties": {
            "requirements": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        # Only the user's own: a small model otherwise invents some.
                        "requirement": {"type": "string", "enum": list(requirements)},
                        "settings": pairs,
                    },
                    "required": ["requirement", "settings"],
                },
            }
        },
        "required": ["requirements"],
    }
    context = {
        **plan.context(),
        "requirements": list(requirements),
        "config": "".join(
            line
            for line in files.get(CONFIG, "").splitlines(keepends=True)
            if line.strip() and not line.lstrip().startswith("#")
        ),  # the values: their comments are in the help below
        "declared": [
            (
                s,
                _short(s.help)
                + ("; below 1: a ratio of all steps" if _ratio(s) else ""),
            )
            for s in sorted(declared.values(), key=_own_first(files))
            if _shown_setting(s)
        ],
    }
    messages = [
        {"role": "system", "content": render("_common/prompts/settings_system.md.j2", context)},
        {"role": "user", "content": render("_common/prompts/settings.md.j2", context)},
    ]  # fmt: skip
    return messages, schema, declared


# Settings left out of the prompt's list (they stay valid in a reply): the machinery of
# distributed runs, hub credentials and trackers' internals, which no requirement of a
# training project's behaviour is met by; and those only a Python object can set.
_UNLISTED = re.compile(
    r"^(ddp_|fsdp|deepspeed|local_rank|parallelism_|accelerator_|hub_token|trackio_"
    r"|liger|use_liger|log_on_each_node|save_on_each_node|log_level_replica|tpu_"
    r"|torch_empty_cache|eval_use_gather|eval_do_concat|average_tokens|dataloader_"
    r"(?!num_workers)|enable_jit|restore_callback|ignore_data_skip|skip_memory)"
)


def _shown_setting(setting: Setting) -> bool:
    return (
        setting.kind != "other"
        and not setting.help.lower().startswith("deprecated")
        and not _UNLISTED.match(setting.name)
    )


def _own_first(files: Mapping[str, str]) -> Callable[[Setting], tuple[int, str]]:
    own = set(re.findall(r"^    (\w+): ", files.get("train.py", ""), re.MULTILINE))
    return lambda s: (0 if s.name in own else 1, s.name)


def _ratio(setting: Setting) -> bool:
    """A number of steps that below 1 is a ratio of the run's steps (warmup_steps)."""
    return setting.kind == "number" and "ratio" in setting.help and "[0" in setting.help


def _short(text: str) -> str:
    text = " ".join(text.replace("%%", "%").split())
    first = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0].rstrip(".")
    return first if len(first) <= _HELP_CHARS else first[: _HELP_CHARS - 1] + "…"


def read_settings_reply(
    reply: str,
    declared: Mapping[str, Setting],
    requirements: Sequence[str],
    config: str,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The setting changes a reply gives each requirement, and what was refused. Only
    changes count: a value config.yaml already has is none (a small model answers
    "lowercase the text" with ``text_column: text``); a requirement with none is left to
    the code."""
    current = config_values(config)
    try:
        data = json.loads(json_part(reply))
    except ValueError:
        return {}, ["the settings reply is not JSON"]
    items = data.get("requirements") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return {}, ['the settings reply has no "requirements" list']
    met: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("settings"), list):
            continue
        named = item.get("requirement")
        if named not in requirements:  # an unconstrained reply may reword it
            named = requirements[0] if len(requirements) == 1 else None
        found, refused = check_changes(item["settings"], declared)
        problems += refused
        found = {
            k: v for k, v in found.items()
            if current.get(k, _UNSET) != v
            and (named is None or _mentions(named, declared[k], v))
        }  # fmt: skip
        if found and named is not None:
            met.setdefault(named, {}).update(found)
    return met, problems


def check_request(
    requirement: str, changes: Mapping[str, Any], declared: Mapping[str, Setting]
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """A yes/no question: do these setting changes alone do what the requirement asks?
    (A small model answers "log the number of trainable parameters" with
    ``logging_strategy: epoch``; asked this, it says no.) The messages and the schema.
    """
    lines = "\n".join(
        f"- {k}: {json.dumps(v)} ({_short(declared[k].help) if k in declared else ''})"
        for k, v in changes.items()
    )
    question = (
        f"A user asked this of a fine-tuning project:\n\n  {requirement}\n\n"
        f"These settings were changed for it:\n{lines}\n\n"
        "Do these settings alone do exactly what the user asked, with no change to the "
        'code? Reply with JSON: {"answer": "yes"} or {"answer": "no"}.'
    )
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
        "required": ["answer"],
    }
    return [{"role": "user", "content": question}], schema


def said_yes(reply: str) -> bool:
    return bool(re.search(r"\byes\b", reply, re.IGNORECASE)) and not re.search(
        r"\bno\b", reply, re.IGNORECASE
    )


_UNSET = object()
_STOP = {"the", "and", "for", "with", "use", "when", "each", "every", "all", "from",
         "into", "this", "that", "than", "its", "not", "has", "have", "over", "first"}  # fmt: skip


# Stems every setting's help says ("during training", "the number of"): no evidence.
_COMMON = {"train", "model", "durin", "numbe", "value", "which", "defau", "will"}


def _stems(text: str) -> set[str]:
    words = re.findall(r"[a-z]{3,}", text.lower().replace("_", " "))
    return {w[:5] for w in words if w not in _STOP} - _COMMON


def _mentions(requirement: str, setting: Setting, value: Any) -> bool:
    """Whether a requirement names a setting in any way: a word of its name or help, or
    a word it takes as a value ("cosine"). A small model answers "drop texts shorter than
    3 characters" with ``max_length: 3`` (truncation to 3 tokens), and "log the number of
    trainable parameters" with ``logging_strategy: epoch``; a setting the requirement
    does not name is not taken for it."""
    said = _stems(
        f"{setting.name} {setting.help} {value if isinstance(value, str) else ''}"
    )
    return bool(_stems(requirement) & said)


# The edit request.


def project_map(files: Mapping[str, str]) -> str:
    """Each code file's top-level definitions: signatures and first docstring lines."""
    out: list[str] = []
    for path, text in sorted(files.items()):
        if not path.endswith(".py"):
            continue
        out.append(f"{path}:")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            out.append("  (does not parse)")
            continue
        for node in tree.body:
            line = _outline(node)
            if line:
                out.append("  " + line)
    return "\n".join(out) + "\n"


def _outline(node: ast.stmt) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        head = f"def {node.name}({ast.unparse(node.args)})"
        if node.returns is not None:
            head += f" -> {ast.unparse(node.returns)}"
    elif isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        head = f"class {node.name}({bases})" if bases else f"class {node.name}"
    elif isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [ast.unparse(t) for t in targets]
        return " = ".join(names) if all(n.isupper() for n in names) else ""
    else:
        return ""
    doc = ast.get_docstring(node)
    first = doc.strip().splitlines()[0] if doc else ""
    return f"{head}: {first}" if first else head


def likely_files(files: Mapping[str, str], requirements: Sequence[str]) -> list[str]:
    """The code files in the order a change for ``requirements`` most likely touches them:
    train.py (the story that wires every other file) first, then those sharing the most
    words with the requirements."""
    code = [p for p in files if p.endswith(".py")]
    texts = {p: files[p].lower() for p in code}
    defined = {p: " ".join(defined_names(files[p])).lower() for p in code}
    # Stems: "tokenizing" finds tokenize_datasets, "lowercase" finds .lower().
    words = {w.lower()[:6] for r in requirements for w in _WORD.findall(r)}

    def telling(where: dict[str, str]) -> set[str]:
        """Words every file has ("the", "model") tell the files apart no better than none."""
        return {w for w in words if not all(w in t for t in where.values())}

    used, named = telling(texts), telling(defined)

    def score(path: str) -> tuple[int, int, int, str]:
        # A word in a name the file defines counts more than one it merely uses; on a
        # tie, longer words tell more ("parameters" more than "log").
        found = [w for w in used if w in texts[path]]
        found_named = [w for w in named if w in defined[path]]
        hits = len(found) + 2 * len(found_named)
        length = sum(map(len, found)) + 2 * sum(map(len, found_named))
        return (0 if path == "train.py" else 1, -hits, -length, path)

    return sorted(code, key=score)


@dataclass
class EditRequest:
    messages: list[dict[str, str]]
    shown: list[str]  # the files whose full text it carries
    hidden: list[str] = field(default_factory=list)


def edit_request(
    plan: Plan,
    files: Mapping[str, str],
    requirements: Sequence[str],
    *,
    settings: Mapping[str, Any],
    refused: Sequence[str] = (),
    measure: Callable[[list[dict[str, str]]], int],
    budget: int,
    hint: str = "",
    shown: Sequence[str] | None = None,
    json_edits: str = "",
) -> EditRequest:
    """The edit request, with the full text of as many likely files as ``budget`` tokens
    (as ``measure`` counts them) allow, the likeliest at least; or of ``shown`` (a
    recorded request's, replayed)."""
    code = {f.path: files[f.path] for f in plan.manifest.code_files if f.path in files}
    code.update({p: t for p, t in files.items() if p.endswith(".py") and p not in code
                 and not p.startswith(META_DIR)})  # fmt: skip
    order = likely_files(code, requirements)

    def build(shown: list[str]) -> list[dict[str, str]]:
        context = {
            **plan.context(),
            "requirements": list(requirements),
            "settings": dict(settings),
            "refused": list(refused),
            "code_files": plan.manifest.code_files,
            "project_map": project_map({p: code[p] for p in order if p not in shown}),
            "shown": {p: code[p] for p in shown},
            "hidden": [p for p in order if p not in shown],
            "hint": hint,
            "text_block": file_block,
            "json_edits": json_edits,
        }
        return [
            {"role": "system", "content": render("_common/prompts/edit_system.md.j2", context)},
            {"role": "user", "content": render("_common/prompts/edit.md.j2", context)},
        ]  # fmt: skip

    if shown is not None:
        chosen = [p for p in shown if p in code]
    else:
        chosen = order[:1]
        for path in order[1:]:
            if measure(build([*chosen, path])) > budget:
                break
            chosen.append(path)
    return EditRequest(build(chosen), chosen, [p for p in order if p not in chosen])


def wanted_files(reply: str, files: Mapping[str, str]) -> list[str]:
    """The files a reply asks to see (``SHOW path`` lines) that exist."""
    return [p for p in dict.fromkeys(_SHOW.findall(reply)) if p in files]


def show_message(files: Mapping[str, str], paths: Sequence[str]) -> dict[str, str]:
    shown = "\n".join(file_block(p, files[p]) for p in paths)
    return {
        "role": "user",
        "content": f"{shown}\nNow reply with the SEARCH/REPLACE blocks.",
    }


def edit_repair_message(
    plan: Plan,
    *,
    stage: str,
    diagnostics: str,
    failing: Mapping[str, str],
    json_edits: str = "",
) -> dict[str, str]:
    return repair_message(
        plan, stage=stage, diagnostics=diagnostics, failing=failing,
        template="_common/prompts/edit_repair.md.j2", json_edits=json_edits,
    )  # fmt: skip
