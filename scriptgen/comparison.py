"""``scriptgen compare DIR``: the fine-tune against the prompt baseline, as measured.

Reads what ``python train.py`` and ``python baseline.py`` wrote to the project's output
folder (``eval_results.json``, ``train_results.json``, ``baseline_results.json``, and
the fine-tune's per-class report ``eval_class_report.md`` where there is one), and
writes ``comparison.md`` (the table, who wins and by how much) and ``comparison.png``
(the task's metric against the cost of 1,000 predictions) into the project.

Costs are derived from measured times: the machine's price per hour (``--price-per-hour``)
times the hours a run took; for a baseline served by an API priced per token
(``--price-per-mtok``), its tokens per example times that price. Light: no torch, no
transformers; matplotlib only for the plot.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .plan_text import format_duration
from .yamlfile import read_yaml

if TYPE_CHECKING:
    from .manifests import Manifest

RESULTS = "eval_results.json"
TRAIN_RESULTS = "train_results.json"
BASELINE_RESULTS = "baseline_results.json"
# The fine-tune's per-class report, where the spec asked for one (class_report: true).
CLASS_REPORT = "eval_class_report.md"
TABLE_FILE = "comparison.md"
PLOT_FILE = "comparison.png"
DEFAULT_PRICE_PER_HOUR = 1.0


@dataclass
class Side:
    """One way of doing the task: its metrics and what it cost."""

    name: str
    metrics: dict[str, float]
    train_seconds: float  # 0 for a baseline: nothing trains
    examples_per_second: float  # predictions on the validation data
    cost_per_1000: float  # dollars per 1,000 predictions
    notes: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    project: Path
    task: str
    metric: str
    lower_is_better: bool  # the task's manifest says so of its metric
    price_per_hour: float
    fine_tune: Side
    baseline: Side
    train_cost: float
    derivations: list[str]
    # The fine-tune's per-class report (Markdown), where train.py wrote one.
    class_report: str = ""
    # (what, plan's estimate, the measurement), or why there is none.
    against_plan: list[tuple[str, float, float]] = field(default_factory=list)
    no_plan: str = ""

    def winner(self) -> tuple[Side, Side, float]:
        """(better side, other side, margin on the task's metric)."""
        a = self.fine_tune.metrics.get(self.metric, math.nan)
        b = self.baseline.metrics.get(self.metric, math.nan)
        fine_tune_wins = (a <= b) if self.lower_is_better else (a >= b)
        if fine_tune_wins:
            return self.fine_tune, self.baseline, abs(a - b)
        return self.baseline, self.fine_tune, abs(a - b)

    def verdict(self) -> str:
        better, other, margin = self.winner()
        metric = self.metric
        text = (
            f"{better.name} wins on {metric} by {margin:.4f} "
            f"({better.metrics[metric]:.4f} vs {other.metrics[metric]:.4f})"
        )
        if other.cost_per_1000 > 0 and better.cost_per_1000 > 0:
            ratio = other.cost_per_1000 / better.cost_per_1000
            if ratio >= 1:
                text += f", at {ratio:.1f}x lower cost per 1,000 predictions"
            else:
                text += f", at {1 / ratio:.1f}x the cost per 1,000 predictions"
        if better is self.fine_tune:
            text += (
                f", after {format_duration(self.fine_tune.train_seconds)} of training"
            )
            text += f" (${self.train_cost:.4f})"
        else:
            text += ", with no training at all"
        return text + "."


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(what)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: not a JSON results file ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a JSON object")
    return data


def _number(data: dict[str, Any], key: str, path: Path) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{path}: {key} is missing or not a number")
    return float(value)


def _config(project: Path) -> dict[str, Any]:
    """The project's config.yaml (train.py's settings)."""
    config_path = project / "config.yaml"
    if not config_path.is_file():
        raise UserError(f"{project}: no config.yaml; is it a generated project?")
    config = read_yaml(config_path, "config")
    return config if isinstance(config, dict) else {}


def output_dir(project: Path, config: dict[str, Any]) -> Path:
    """The folder train.py writes to: config.yaml's output_dir, relative to it."""
    value = config.get("output_dir")
    return project / (value if isinstance(value, str) and value else "outputs")


def _manifest_of(project: Path) -> Manifest:
    """The manifest of the project's task, named by its lock."""
    from .lock import Lock
    from .manifests import get_manifest

    try:
        task = Lock.read(project).task
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(
            f"{project}: no readable .scriptgen/lock.json; compare takes a project "
            "that scriptgen generated"
        ) from None
    return get_manifest(task)


def _short(name: str) -> str:
    """A model's name for a table cell: a folder's or hub id's last part; a server's
    model name as it is."""
    model, at, _ = name.partition(" at ")
    if at:
        return model
    return Path(name.rstrip("/")).name or name


def _model_of(config: dict[str, Any]) -> str:
    """The fine-tuned model's short name, from config.yaml."""
    value = config.get("model_name_or_path")
    return _short(value) if isinstance(value, str) and value else ""


def compare(
    project: Path,
    *,
    price_per_hour: float = DEFAULT_PRICE_PER_HOUR,
    price_per_mtok: float | None = None,
    with_plan: bool = True,
    device: str | None = None,
) -> Comparison:
    """The measured comparison of the project's last training run and baseline run."""
    project = Path(project)
    if not project.is_dir():
        raise UserError(f"{project}: no such project folder")
    manifest = _manifest_of(project)
    metric, metric_names = manifest.metric, manifest.metrics or (manifest.metric,)
    config = _config(project)
    out = output_dir(project, config)
    results_path = out / RESULTS
    results = _read_json(
        results_path, f"{results_path}: not found; run `python train.py` first"
    )
    train_path = out / TRAIN_RESULTS
    train = _read_json(
        train_path, f"{train_path}: not found; run `python train.py` first"
    )
    baseline_path = out / BASELINE_RESULTS
    base = _read_json(
        baseline_path,
        f"{baseline_path}: not found; run `python baseline.py` first "
        "(a project made with `scriptgen new ... --baseline`)",
    )
    names = [m for m in metric_names if m in results and m in base]
    if metric not in names:
        raise UserError(
            f"{baseline_path}: {metric} missing here or in {RESULTS}; nothing to compare"
        )
    train_seconds = _number(train, "train_runtime", train_path)
    ft_speed = _number(results, "eval_samples_per_second", results_path)
    base_speed = _number(base, "examples_per_second", baseline_path)
    hour = 3600.0
    derivations = [
        f"training cost: train_runtime {train_seconds:.1f} s (train_results.json) x "
        f"${price_per_hour:.2f}/hour (--price-per-hour)",
        "fine-tune per 1,000 predictions: 1,000 / eval_samples_per_second "
        f"({ft_speed:.2f}/s, eval_results.json) x ${price_per_hour:.2f}/hour",
    ]
    ft_cost = 1000 / ft_speed / hour * price_per_hour if ft_speed > 0 else math.inf
    tokens = _number(base, "prompt_tokens_per_example", baseline_path) + _number(
        base, "completion_tokens_per_example", baseline_path
    )
    if price_per_mtok is not None:
        base_cost = tokens * 1000 / 1e6 * price_per_mtok
        derivations.append(
            f"baseline per 1,000 predictions: {tokens:.1f} tokens per example "
            f"(baseline_results.json) x 1,000 x ${price_per_mtok:.2f} per million tokens "
            "(--price-per-mtok)"
        )
    else:
        base_cost = (
            1000 / base_speed / hour * price_per_hour if base_speed else math.inf
        )
        derivations.append(
            "baseline per 1,000 predictions: 1,000 / examples_per_second "
            f"({base_speed:.2f}/s, baseline_results.json) x ${price_per_hour:.2f}/hour"
        )
    llm = _short(str(base.get("llm", "the LLM")))
    settings = base.get("settings") if isinstance(base.get("settings"), dict) else {}
    shots = settings.get("shots", "?") if isinstance(settings, dict) else "?"
    model = _model_of(config)
    fine_tune = Side(
        f"fine-tune ({model})" if model else "fine-tune",
        {m: float(results[m]) for m in names},
        train_seconds,
        ft_speed,
        ft_cost,
    )
    baseline = Side(
        f"prompt ({llm}, {shots}-shot)",
        {m: float(base[m]) for m in names},
        0.0,
        base_speed,
        base_cost,
    )
    for key, note in manifest.baseline_notes.items():
        count = base.get(key)
        if isinstance(count, int) and not isinstance(count, bool) and count:
            baseline.notes.append(note.format(n=count))
    result = Comparison(
        project,
        manifest.name,
        metric,
        metric in manifest.lower_is_better,
        price_per_hour,
        fine_tune,
        baseline,
        train_seconds / hour * price_per_hour,
        derivations,
    )
    if (out / CLASS_REPORT).is_file():
        result.class_report = (out / CLASS_REPORT).read_text(encoding="utf-8")
    if with_plan:
        _against_plan(result, train, base, device)
    return result


def _against_plan(
    result: Comparison, train: dict[str, Any], base: dict[str, Any], device: str | None
) -> None:
    """What ``scriptgen plan`` estimates for the project's spec beside what was measured:
    training time on ``device`` (default: this machine's CPU, or the GPU torch sees),
    training FLOPs against the Trainer's own count, and the baseline's prompt tokens."""
    try:
        import torch

        from .api import plan as make
        from .estimation import GPUS, estimate
        from .lock import SPEC_FILE

        if device is None:
            device = "CPU (this machine)"
            if torch.cuda.is_available():
                name = torch.cuda.get_device_name(0)
                device = next(
                    (g.name for g in GPUS if g.name.split("-")[0] in name), ""
                )
        spec_file = result.project / SPEC_FILE
        task = result.task
        plan = make(task, spec_file=spec_file, out=result.project.parent)
        method = plan.spec.training.method
        estimated = estimate(plan, methods=[method])
        [row] = estimated.methods
    except (UserError, ImportError) as exc:
        result.no_plan = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return
    if device in row.hours:
        measured = train.get("train_runtime")
        if isinstance(measured, (int, float)) and measured > 0:
            result.against_plan.append(
                (
                    f"training time on {device} (s)",
                    row.hours[device].value * 3600,
                    measured,
                )
            )
    else:
        result.no_plan = f"no estimate for device {device!r}"
    flos = train.get("total_flos")
    if row.flops is not None and isinstance(flos, (int, float)) and flos > 0:
        result.against_plan.append(
            ("training FLOPs (the Trainer's count)", row.flops.value, flos)
        )
    planned = estimated.baseline.get("prompt_tokens_per_example")
    tokens = base.get("prompt_tokens_per_example")
    if planned is not None and isinstance(tokens, (int, float)) and tokens > 0:
        result.against_plan.append(
            ("baseline prompt tokens per example", planned.value, tokens)
        )
