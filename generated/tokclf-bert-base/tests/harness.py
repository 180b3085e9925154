"""The project's code runs in a process of its own, never in the judge's.

Rendered by scriptgen (shared by every task). The contract tests import no module of the
project: ``harness.module("train").main(argv)`` sends the call to a worker process that
imports the project, and only JSON comes back (an exception comes back as the same
built-in exception type, with the worker's traceback in its message). So nothing the code
under test does at import, at exit or in between runs in the process that decides the
verdict. Under scriptgen's validation the worker is confined more narrowly than the judge
(``SCRIPTGEN_CONFINE``): it cannot write the test report, nor reach the judge's process.

``harness.run(function, *args)`` runs one of the judge's own module-level functions in the
worker (its source is sent), for checks that build objects JSON cannot carry (datasets,
tokenizers): such a function imports what it needs and returns plain data.

What the judge itself reads and writes (checkpoints' weights and configs, hub-style
datasets) it handles with numpy and pyarrow, never torch, transformers or datasets: those
load in the worker only, so judging costs one import of them, not two.
"""

from __future__ import annotations

import builtins
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent

# `python -m pytest` in the project folder puts that folder first on sys.path: take it off,
# so that no import in the judge's process (its own, or a library's) can reach the
# project's modules.
sys.path[:] = [
    p for p in sys.path if p not in ("", ".") and Path(p).resolve() != PROJECT_DIR
]

# The worker: imports the project's modules on request, calls, answers in JSON lines on
# its own pipe (the project's prints go to stdout as usual).
WORKER = r'''
import builtins, contextlib, dataclasses, enum, importlib, io, json, os, sys, traceback
requests, replies = os.fdopen(int(sys.argv[1]), "r"), os.fdopen(int(sys.argv[2]), "w")
sys.path.insert(0, sys.argv[3])


def plain(value, depth=0):
    """Data only: containers, scalars; objects as their fields; datasets as rows."""
    if depth > 50:
        raise ValueError("result nested too deep")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value, depth + 1)
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, depth + 1) for v in value]
    if hasattr(value, "to_list") and hasattr(value, "column_names"):  # a Dataset
        return {"__rows__": plain(value.to_list(), depth + 1)}
    if hasattr(value, "tolist"):  # numpy, torch
        return plain(value.tolist(), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"__object__": plain(fields, depth + 1)}
    if hasattr(value, "__iter__") and hasattr(value, "__len__"):  # a dataset's column
        return [plain(v, depth + 1) for v in value]
    if hasattr(value, "__dict__"):
        return {"__object__": plain(vars(value), depth + 1)}
    return repr(value)


for line in requests:
    request = json.loads(line)
    stdout = io.StringIO()
    try:
        os.chdir(request["cwd"])
        if "source" in request:
            namespace = {"__name__": "__judge__"}
            exec(compile(request["source"], request["file"], "exec"), namespace)
            function = namespace[request["name"]]
        else:
            module, _, name = request["target"].rpartition(".")
            function = getattr(importlib.import_module(module), name)
        with contextlib.redirect_stdout(stdout) if request["stdout"] else contextlib.nullcontext():
            result = function(*request["args"], **request["kwargs"])
        reply = {"result": plain(result), "stdout": stdout.getvalue()}
    except BaseException as exc:
        reply = {
            "error": type(exc).__name__,
            "builtin": type(exc).__name__ if getattr(builtins, type(exc).__name__, None) is type(exc) else None,
            "message": str(exc)[:2000],
            "trace": traceback.format_exc()[-6000:],
        }
    replies.write(json.dumps(reply) + "\n")
    replies.flush()
'''


class ProjectError(Exception):
    """An exception the project's code raised in the worker, or the worker's own end."""


_ERROR_TYPES: dict[str, type] = {}


def _error(reply: dict) -> Exception:
    """The worker's exception as one of the same built-in type (so that pytest.raises
    works as on the code itself), carrying the worker's traceback."""
    message = f"{reply['error']}: {reply['message']}\n\nIn the project's process:\n{reply['trace']}"
    base = getattr(builtins, reply.get("builtin") or "", None)
    if not (isinstance(base, type) and issubclass(base, (Exception, SystemExit))):
        base = Exception
    for candidate in base.__mro__:  # the nearest type that takes a message alone
        try:
            kind = _ERROR_TYPES.get(candidate.__name__) or type(
                candidate.__name__, (ProjectError, candidate), {}
            )
            error = kind(message)
        except TypeError:
            continue
        _ERROR_TYPES[candidate.__name__] = kind
        return error
    return ProjectError(message)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__rows__"}:
            return _decode(value["__rows__"])
        if set(value) == {"__object__"}:
            return SimpleNamespace(**_decode(value["__object__"]))
        return {k: _decode(v) for k, v in value.items()}
    return value


class Worker:
    """One worker process for the session, started on first use."""

    def __init__(self, project_dir: Path = PROJECT_DIR) -> None:
        self.project_dir = project_dir
        self.process: subprocess.Popen | None = None

    def _start(self) -> None:
        request_read, self._requests = os.pipe()
        self._replies, reply_write = os.pipe()
        prefix = json.loads(os.environ.get("SCRIPTGEN_CONFINE") or "[]")
        command = [*prefix, sys.executable, "-c", WORKER]
        command += [str(request_read), str(reply_write), str(self.project_dir)]
        self.process = subprocess.Popen(
            command, pass_fds=(request_read, reply_write), stdin=subprocess.DEVNULL
        )
        os.close(request_read)
        os.close(reply_write)
        self._writer = os.fdopen(self._requests, "w")
        self._reader = os.fdopen(self._replies, "r")

    def request(self, message: dict, stdout: bool = False) -> Any:
        if self.process is None:
            self._start()
        message = {**message, "cwd": os.getcwd(), "stdout": stdout}
        try:
            self._writer.write(json.dumps(message) + "\n")
            self._writer.flush()
            line = self._reader.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            status = self.process.wait(timeout=30)
            self.process = None
            raise ProjectError(
                f"the project's process ended (exit status {status}) during "
                f"{message.get('target') or message.get('name')}"
            )
        reply = json.loads(line)
        if "error" in reply:
            raise _error(reply)
        result = _decode(reply["result"])
        return (result, reply["stdout"]) if stdout else result

    def close(self) -> None:
        """End the worker at once: it keeps nothing worth a clean exit."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self._writer.close()
            self._reader.close()
            self.process = None


WORKER_PROCESS = Worker()


class Module:
    """A stand-in for one of the project's modules: its functions run in the worker."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str):
        if attribute.startswith("__"):
            raise AttributeError(attribute)

        def call(*args: Any, **kwargs: Any) -> Any:
            target = f"{self._name}.{attribute}"
            return WORKER_PROCESS.request(
                {"target": target, "args": args, "kwargs": kwargs}
            )

        return call


def module(name: str) -> Module:
    return Module(name)


def output(target: str, *args: Any) -> str:
    """What ``module.function(*args)`` prints to stdout (a command-line entry point)."""
    message = {"target": target, "args": args, "kwargs": {}}
    return WORKER_PROCESS.request(message, stdout=True)[1]


def run(function, *args: Any, **kwargs: Any) -> Any:
    """Run one of the judge's module-level functions in the worker; its line numbers stay
    those of its file."""
    lines, start = inspect.getsourcelines(function)
    source = "\n" * (start - 1) + textwrap.dedent("".join(lines))
    message = {
        "source": source,
        "file": inspect.getsourcefile(function),
        "name": function.__name__,
        "args": args,
        "kwargs": kwargs,
    }
    return WORKER_PROCESS.request(message)


# --- what the judge reads and writes without the project's libraries -----------------

# safetensors' dtype names, as numpy's (bfloat16 has none: widened to float32 below).
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
    "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}  # fmt: skip


def _safetensors_header(f, path: Path) -> dict:
    """The header of the safetensors file open as ``f``, which is left at its data."""
    size = int.from_bytes(f.read(8), "little")
    if not 0 < size < 100_000_000:
        raise ValueError(f"{path} is not a safetensors file")
    header = json.loads(f.read(size))
    header.pop("__metadata__", None)
    return header


def tensor_names(path: Path) -> list[str]:
    """The names of the tensors in a safetensors file (its header alone is read)."""
    with open(path, "rb") as f:
        return sorted(_safetensors_header(f, path))


def tensors(path: Path) -> dict[str, Any]:
    """The tensors of a safetensors file as numpy arrays."""
    import numpy as np

    with open(path, "rb") as f:
        header = _safetensors_header(f, path)
        data = f.read()
    arrays = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        buffer = data[begin:end]
        if info["dtype"] == "BF16":
            array = (np.frombuffer(buffer, "<u2").astype("<u4") << 16).view("<f4")
        else:
            array = np.frombuffer(buffer, _DTYPES[info["dtype"]])
        arrays[name] = array.reshape(info["shape"])
    return arrays


def checkpoint_weights(folder: Path) -> dict[str, Any]:
    """A checkpoint folder's weights by name (one model.safetensors, or its shards)."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(
            set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        )
        weights = {}
        for shard in shards:
            weights.update(tensors(folder / shard))
        return weights
    single = folder / "model.safetensors"
    assert single.is_file(), (
        f"{folder} has no model.safetensors: save the checkpoint with save_pretrained "
        "(safetensors, its default format)"
    )
    return tensors(single)


def model_config(folder: Path) -> dict:
    """A checkpoint folder's config.json."""
    path = Path(folder) / "config.json"
    assert path.is_file(), f"{folder} has no config.json"
    return json.loads(path.read_text(encoding="utf-8"))


# Hub-style typed features, in the JSON form that datasets keeps in a parquet file's
# schema (and on the hub): what datasets.Features.from_dict() reads back.
def value(dtype: str) -> dict:
    return {"dtype": dtype, "_type": "Value"}


def class_label(names: list[str]) -> dict:
    return {"names": list(names), "_type": "ClassLabel"}


def list_of(feature: dict) -> dict:
    return {"feature": feature, "_type": "List"}


def image() -> dict:
    """An Image feature: each value {"bytes": the encoded file, "path": its name}."""
    return {"_type": "Image"}


def audio() -> dict:
    """An Audio feature: each value {"bytes": the encoded file, "path": its name}."""
    return {"_type": "Audio"}


def _arrow_type(feature: dict):
    import pyarrow as pa

    if "_type" not in feature:  # a struct: {name: feature}
        return pa.struct([(k, _arrow_type(v)) for k, v in feature.items()])
    kind = feature["_type"]
    if kind == "ClassLabel":
        return pa.int64()
    if kind in ("Image", "Audio"):
        return pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    if kind == "Sequence" and "_type" not in feature["feature"]:
        # A Sequence of a struct is stored as a struct of lists (SQuAD's answers).
        inner = feature["feature"]
        return pa.struct([(k, pa.list_(_arrow_type(v))) for k, v in inner.items()])
    if kind in ("List", "Sequence"):
        return pa.list_(_arrow_type(feature["feature"]))
    if kind == "Value":
        return pa.type_for_alias(feature["dtype"])
    raise ValueError(f"no arrow type for a {kind} feature")


def write_hub_dataset(
    folder: Path, splits: dict[str, list[dict]], features: dict
) -> Path:
    """A folder laid out as a hub dataset repository (data/<split>-00000-of-00001.parquet),
    the typed features in each parquet file's schema, as the hub's export has them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    schema = pa.schema(
        [(name, _arrow_type(feature)) for name, feature in features.items()],
        metadata=metadata,
    )
    (Path(folder) / "data").mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        table = pa.Table.from_pylist(rows, schema=schema)
        pq.write_table(table, Path(folder) / "data" / f"{split}-00000-of-00001.parquet")
    return Path(folder)
