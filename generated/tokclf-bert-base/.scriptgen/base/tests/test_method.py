"""Contract tests of the training method (full): what trains and what must not.

Rendered by scriptgen. The trained checkpoint's weights are compared with the twin's
initial ones, parameter by parameter, as the files hold them (harness.py reads them with
numpy: no model is loaded in the judge); which ones may change follows from the method
alone and the twin's anatomy (tests/twin.py), not from model.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

# isort: off
from conftest import UNFREEZE_LAYERS
from harness import checkpoint_weights, run, tensor_names
from twin import LAYERS, anatomy

# isort: on

METHOD = "full"

Weights = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def twin(twin_dir: Path) -> dict:
    return anatomy(twin_dir)


def in_memory(weights: Weights, twin: dict) -> Weights:
    """Base-model weights under their names in the model's modules (the names LAYERS and
    the twin's anatomy use), not the saved checkpoint's, where the two differ."""
    renamed = twin.get("module_names", {})
    return {renamed.get(name, name): weight for name, weight in weights.items()}


@pytest.fixture(scope="module")
def initial(twin_dir: Path, twin: dict) -> Weights:
    """The twin's base model's parameters by name, as saved."""
    return in_memory(checkpoint_weights(twin_dir), twin)


def trained_weights(trained: Path) -> Weights:
    """The trained checkpoint's weights, which must be a plain checkpoint's."""
    assert not (trained / "adapter_config.json").exists(), (
        f"{METHOD} must save a plain checkpoint (adapters merged), "
        "not a peft adapter"
    )
    return checkpoint_weights(trained)


def base_part(weights: Weights, twin: dict) -> Weights:
    """A task model's base-model parameters (the head aside), named as in the base
    model."""
    prefix = twin["base_model_prefix"] + "."
    base = {n[len(prefix) :]: w for n, w in weights.items() if n.startswith(prefix)}
    return in_memory(base, twin)


def layer_index(name: str) -> int | None:
    """The index of the layer a parameter belongs to, None outside the layer list."""
    prefix = LAYERS + "."
    if not name.startswith(prefix):
        return None
    return int(name[len(prefix) :].split(".")[0])


def changed(initial: Weights, final: Weights) -> set[str]:
    """The parameters whose values differ. The twin's base model may have parts the
    task's model does not use (RoBERTa's pooler); its layers must all be there."""
    missing = sorted(n for n in set(initial) - set(final) if layer_index(n) is not None)
    assert not missing, f"the trained base model lacks {missing[:5]}"
    common = set(initial) & set(final)
    return {n for n in common if not np.array_equal(initial[n], final[n])}


def num_layers(initial: Weights) -> int:
    return 1 + max(i for i in map(layer_index, initial) if i is not None)


def is_after_layers(name: str, twin: dict) -> bool:
    return name.split(".")[0] in twin["after_layers"]


def test_full_trains_every_layer(trained: Path, twin: dict, initial: Weights) -> None:
    moved = changed(initial, base_part(trained_weights(trained), twin))
    for i in range(num_layers(initial)):
        assert any(layer_index(n) == i for n in moved), f"layer {i} did not train"
    embeddings = [n for n in initial if layer_index(n) is None and "embed" in n]
    assert any(n in moved for n in embeddings), "the embeddings did not train"
