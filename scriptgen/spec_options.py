"""The spec's optional blocks: each asks for a part of the project that only some specs
want (early stopping, a prompt baseline, a model card, a search), and the trackers a
run reports to. ``spec.Spec`` holds them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _switched(block: Any) -> Any:
    """An optional block given as a switch: ``true`` takes its defaults, ``false`` is
    none."""
    if block is True:
        return {}
    return None if block is False else block


class EarlyStoppingSpec(_Strict):
    """``training.early_stopping``: stop once ``metric`` has not improved by more than
    ``threshold`` for ``patience`` evaluations; the best checkpoint is the model kept.
    """

    patience: int = Field(default=3, ge=1, le=1000)
    threshold: float = Field(default=0.0, ge=0)
    # None: the task's first early-stopping metric (its judged one, where every
    # evaluation reports it).
    metric: str | None = Field(default=None, min_length=1, max_length=100)


# The experiment trackers transformers' Trainer reports to (its report_to names, each
# also the pip package that the project's requirements.txt gets).
Tracker = Literal[
    "tensorboard", "wandb", "mlflow", "trackio", "comet_ml", "clearml", "dvclive",
    "swanlab",
]  # fmt: skip


# The instruct LLM of a prompt baseline when ``--baseline`` names none: small enough for
# one consumer GPU (or a CPU, slowly), strong enough to be a fair opponent.
DEFAULT_BASELINE_LLM = "Qwen/Qwen2.5-1.5B-Instruct"


class BaselineSpec(_Strict):
    """``baseline``: an instruct LLM prompted for the task, beside the fine-tune."""

    # A hub id, a local model folder, or "openai:<base url>" (an OpenAI-compatible server).
    llm: str = Field(default=DEFAULT_BASELINE_LLM, min_length=1)
    # The server's model name (openai: only); None: the first that /v1/models lists.
    llm_model: str | None = None
    # Examples from the training split shown before each question (0: zero-shot).
    shots: int = Field(default=4, ge=0, le=64)
    # The instruction that opens the prompt; None: the task's own.
    instruction: str | None = None

    @field_validator("llm")
    @classmethod
    def _llm(cls, v: str) -> str:
        if v.startswith("openai:") and not v.removeprefix("openai:").startswith(
            ("http://", "https://")
        ):
            raise ValueError("openai: takes the server's base URL (openai:http://...)")
        return v


class ModelCardSpec(_Strict):
    """``model_card``: README.md beside the trained model, in the hub's model card format."""

    license: str | None = Field(default=None, max_length=100)  # a hub license id
    language: str | None = Field(default=None, max_length=100)  # e.g. "en"
    # What the model is for and where it falls short; None: a line that says it is unstated.
    intended_use: str | None = Field(default=None, max_length=2000)


class SearchSpec(_Strict):
    """``search``: tune.py, an Optuna search over train.py's settings (tune.yaml's space)."""

    trials: int = Field(default=20, ge=1, le=10000)
    # None: the task's judged metric; its direction is the task's (lower_is_better).
    metric: str | None = Field(default=None, min_length=1, max_length=100)
