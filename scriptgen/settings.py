"""A project's declared settings, as an LLM may change them: read from its train.py (the
``ModelArguments`` / ``DataArguments`` fields) and from the installed transformers'
``TrainingArguments``; a reply's changes checked against them (name, type, choices) and
written into ``config.yaml`` by scriptgen, never by the model.

The reply's shape is a JSON object ``{"settings": [{"name": ..., "value": ...}, ...]}``;
``reply_schema`` gives it as a JSON schema whose names are an enum of the declared
settings, for servers that constrain decoding to a schema (llama.cpp, vLLM, OpenAI).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import shown

# Types a setting's value can take, from its annotation.
_KINDS = ("boolean", "integer", "number", "string", "strings", "other")


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # one of _KINDS
    optional: bool = False  # null is a value
    choices: tuple[str, ...] = ()
    help: str = ""


def declared_settings(train_source: str) -> dict[str, Setting]:
    """Every setting the project's train.py reads: its own argument dataclasses' fields,
    then the fields of the TrainingArguments class it names (transformers as installed:
    a name the installed version lacks is no setting)."""
    found = _own_fields(train_source)
    arguments = (
        "Seq2SeqTrainingArguments"
        if "Seq2SeqTrainingArguments" in train_source
        else "TrainingArguments"
    )
    for setting in _training_arguments(arguments):
        found.setdefault(setting.name, setting)
    return found


def _own_fields(source: str) -> dict[str, Setting]:
    out: dict[str, Setting] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.ClassDef) and node.name.endswith("Arguments")):
            continue
        for item in node.body:
            if not (
                isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            ):
                continue
            annotation = ast.unparse(item.annotation)
            kind, optional = _kind_of(annotation)
            help_text = ""
            if isinstance(item.value, ast.Call) and len(item.value.args) > 1:
                second = item.value.args[1]
                if isinstance(second, ast.Constant) and isinstance(second.value, str):
                    help_text = second.value
            out[item.target.id] = Setting(item.target.id, kind, optional, (), help_text)
    return out


def _kind_of(annotation: str) -> tuple[str, bool]:
    parts = {
        p.strip() for p in annotation.replace("Optional[", "").rstrip("]").split("|")
    }
    optional = "None" in parts
    parts.discard("None")
    for kind, names in (
        ("strings", {"list[str]", "List[str]"}),
        ("boolean", {"bool"}),
        ("integer", {"int"}),
        ("number", {"float"}),
        ("string", {"str"}),
    ):
        if parts and parts <= names | {"str"} and parts & names:
            return kind, optional
    return "other", optional


def _training_arguments(class_name: str) -> list[Setting]:
    """The fields of transformers' ``class_name``: read from the installed class once per
    transformers version (importing it takes seconds), then from scriptgen's cache."""
    import os
    from importlib import metadata
    from pathlib import Path

    try:
        version = metadata.version("transformers")
    except metadata.PackageNotFoundError:
        version = ""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    cached = Path(base) / "scriptgen" / "settings" / f"{class_name}-{version}.json"
    try:
        return [Setting(*row[:3], tuple(row[3]), row[4])
                for row in json.loads(cached.read_text(encoding="utf-8"))]  # fmt: skip
    except (OSError, ValueError, TypeError, IndexError):
        pass
    found = _read_training_arguments(class_name)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{cached.name}.{os.getpid()}")
        rows = [[s.name, s.kind, s.optional, list(s.choices), s.help] for s in found]
        partial.write_text(json.dumps(rows), encoding="utf-8")
        partial.replace(cached)
    except OSError:
        pass  # a read-only home: read it again next time
    return found


def _read_training_arguments(class_name: str) -> list[Setting]:
    import dataclasses
    import enum
    import typing

    import transformers

    cls = getattr(transformers, class_name)
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        hint = hints.get(f.name)
        args = typing.get_args(hint) or (hint,)
        optional = type(None) in args
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        choices = tuple(str(m.value) for m in enums[0]) if enums else ()
        plain = {a for a in args if a is not type(None)}
        if choices:
            kind = "string"
        elif plain == {bool}:
            kind = "boolean"
        elif plain == {int}:
            kind = "integer"
        elif plain <= {int, float} and plain:
            kind = "number"
        elif plain == {str}:
            kind = "string"
        elif any(typing.get_origin(a) is list for a in plain):
            kind = "strings"
        else:
            kind = "other"
        out.append(
            Setting(f.name, kind, optional, choices, str(f.metadata.get("help", "")))
        )
    return out


def reply_schema(settings: Mapping[str, Setting]) -> dict[str, Any]:
    """The JSON schema of a settings reply: a list of {name, value}, names declared."""
    return {
        "type": "object",
        "properties": {
            "settings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": sorted(settings)},
                        "value": {
                            "type": ["string", "number", "boolean", "array", "null"]
                        },
                    },
                    "required": ["name", "value"],
                },
            }
        },
        "required": ["settings"],
    }


def read_changes(
    reply: str, settings: Mapping[str, Setting]
) -> tuple[dict[str, Any], list[str]]:
    """The changes a reply asks for, each checked against its declaration and given its
    type; and one diagnostic per change refused (for the repair turn)."""
    try:
        data = json.loads(json_part(reply))
    except ValueError as exc:
        return {}, [f"the reply is not JSON ({exc.msg} at character {exc.pos})"]
    items = data.get("settings") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return {}, ['the reply has no "settings" list']
    return check_changes(items, settings)


def check_changes(
    items: list[Any], settings: Mapping[str, Setting]
) -> tuple[dict[str, Any], list[str]]:
    """``items`` ({name, value} pairs) checked against the declarations and typed."""
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("name"), str)):
            problems.append(f"{shown(item)}: not a {{name, value}} pair")
            continue
        name, value = item["name"], item.get("value")
        setting = settings.get(name)
        if setting is None:
            close = _close_names(name, settings)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(f"{shown(name)} is not a setting of this project{hint}")
            continue
        try:
            changes[name] = _coerce(value, setting)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    return changes, problems


def json_part(reply: str) -> str:
    """The JSON object of a reply that may wrap it in a fence or in words."""
    start, end = reply.find("{"), reply.rfind("}")
    return reply[start : end + 1] if 0 <= start < end else reply


def _close_names(name: str, settings: Mapping[str, Setting]) -> list[str]:
    import difflib

    return difflib.get_close_matches(name, list(settings), n=3, cutoff=0.7)


_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def _coerce(value: Any, setting: Setting) -> Any:
    """``value`` as the setting's type, or ValueError saying what it takes."""
    if value is None or (
        isinstance(value, str) and value.strip().lower() in ("null", "none")
    ):
        if setting.optional:
            return None
        raise ValueError("cannot be null")
    kind = setting.kind
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"takes true or false, not {shown(value)}")
    if kind in ("integer", "number"):
        if isinstance(value, bool):
            raise ValueError(f"takes a number, not {shown(value)}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"takes a number, not {shown(value)}") from None
        if kind == "integer":
            if number != int(number):
                raise ValueError(f"takes a whole number, not {shown(value)}")
            return int(number)
        return int(number) if isinstance(value, int) else number
    if kind == "strings":
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (str, int, float)) for v in items):
            raise ValueError(f"takes a list of names, not {shown(value)}")
        return [str(v) for v in items]
    if kind == "string":
        if isinstance(value, (list, dict)):
            raise ValueError(f"takes one value, not {shown(value)}")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if setting.choices and text not in setting.choices:
            raise ValueError(
                f"takes one of {', '.join(setting.choices)}, not {shown(value)}"
            )
        return text
    return value


def write_settings(config_text: str, changes: Mapping[str, Any]) -> str:
    """``config.yaml`` with each change set: a top-level key that is there gets its new
    value in place (its comments and the other lines kept), a new one goes at the end.
    """
    import yaml

    lines = config_text.splitlines(keepends=True)
    added: list[str] = []
    for name, value in changes.items():
        flow = yaml.safe_dump(value, default_flow_style=True, width=10_000)
        dumped = name + ": " + flow.removesuffix("...\n").strip() + "\n"
        key = re.compile(rf"^{re.escape(name)}\s*:")
        at = next((i for i, line in enumerate(lines) if key.match(line)), None)
        if at is None:
            added.append(dumped)
            continue
        end = at + 1
        # The value's own continuation lines (a block list or mapping under the key).
        while end < len(lines) and lines[end].startswith((" ", "-", "\t")):
            end += 1
        lines[at:end] = [dumped]
    text = "".join(lines)
    if added:
        text = text.rstrip("\n") + "\n" + "".join(added)
    return text
