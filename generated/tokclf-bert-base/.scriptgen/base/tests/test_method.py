"""Contract tests of the training method (full): what trains and what must not.

Rendered by scriptgen. The trained checkpoint's weights are compared with the twin's
initial ones, parameter by parameter; which ones may change follows from the method
alone (and the family's layer list, from the families registry), not from model.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

# isort: off
from conftest import UNFREEZE_LAYERS
from twin import LAYERS, after_layers

# isort: on

METHOD = "full"
AUTO_CLASS = "AutoModelForTokenClassification"


def auto_class():
    import transformers

    return getattr(transformers, AUTO_CLASS)


def base_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The base model's parameters by name (no head), detached copies."""
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.fixture(scope="module")
def initial(twin_dir: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModel

    return base_weights(AutoModel.from_pretrained(twin_dir))


def load_plain(trained: Path) -> torch.nn.Module:
    assert not (trained / "adapter_config.json").exists(), (
        f"--method {METHOD} must save a plain checkpoint (adapters merged), "
        "not a peft adapter"
    )
    return auto_class().from_pretrained(trained)


def layer_index(name: str) -> int | None:
    """The index of the layer a parameter belongs to, None outside the layer list."""
    prefix = LAYERS + "."
    if not name.startswith(prefix):
        return None
    return int(name[len(prefix) :].split(".")[0])


def changed(
    initial: dict[str, torch.Tensor], final: dict[str, torch.Tensor]
) -> set[str]:
    """The parameters whose values differ. The twin's base model may have parts the
    task's model does not use (RoBERTa's pooler); its layers must all be there."""
    missing = sorted(n for n in set(initial) - set(final) if layer_index(n) is not None)
    assert not missing, f"the trained base model lacks {missing[:5]}"
    common = set(initial) & set(final)
    return {n for n in common if not torch.equal(initial[n], final[n])}


def num_layers(initial: dict[str, torch.Tensor]) -> int:
    return 1 + max(i for i in map(layer_index, initial) if i is not None)


def is_after_layers(name: str, base_model: torch.nn.Module) -> bool:
    return name.split(".")[0] in after_layers(base_model)


def test_full_trains_every_layer(trained: Path, initial) -> None:
    model = load_plain(trained)
    moved = changed(initial, base_weights(model.base_model))
    for i in range(num_layers(initial)):
        assert any(layer_index(n) == i for n in moved), f"layer {i} did not train"
    embeddings = [n for n in initial if layer_index(n) is None and "embed" in n]
    assert any(n in moved for n in embeddings), "the embeddings did not train"
