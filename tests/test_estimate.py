"""`scriptgen plan`'s parameter counts: for every family of the catalog, the count on the
meta device equals the instantiated model's; for textclf, each method's trainable count
equals what the generated model.py's load_model leaves trainable on a real checkpoint of
the family's twin sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scriptgen.catalog import combinations
from scriptgen.planning import make_plan
from scriptgen.registry import family
from scriptgen.spec import build_spec

from .conftest import alias_for, rendered_module, run_scriptgen

pytestmark = pytest.mark.slow

PAIRS = sorted({(task, model_type) for task, model_type, _ in combinations()})


def twin_config(model_type: str):
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type, **family(model_type).config)


def plan_for(task: str, model_type: str, tmp_path: Path, *sets: str):
    raw, base = build_spec(
        task, model=alias_for(model_type), sets=list(sets), cwd=tmp_path
    )
    return make_plan(raw, base, tmp_path / "out")


@pytest.mark.parametrize(
    ("task", "model_type"), PAIRS, ids=[f"{t}-{m}" for t, m in PAIRS]
)
def test_planned_parameters_equal_the_instantiated_models(
    task: str, model_type: str, tmp_path: Path
) -> None:
    from scriptgen.metamodel import auto_class, parameters

    plan = plan_for(task, model_type, tmp_path)
    total, trainable, _ = parameters(plan, twin_config(model_type))
    config = twin_config(model_type)
    labels = plan.spec.data.get("labels")
    if labels and hasattr(config, "num_labels"):
        config.num_labels = len(labels)
    model = auto_class(plan).from_config(config)
    assert total == sum(p.numel() for p in model.parameters())
    # The spec's method: full (Marian's sinusoidal positions are fixed, not trained).
    assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)


# plan prepares the meta model with the project's own model.py (one source): these rows
# check that the options reach it as train.py passes them, and that the meta model counts
# what the loaded one trains: every method on BERT, and prompt tuning on ELECTRA, whose
# embeddings are narrower than its hidden size.
TEXTCLF_ROWS = [
    (m, f)
    for t, m, f in combinations()
    if t == "textclf" and (m == "bert" or (m, f) == ("electra", "prompt"))
]


@pytest.fixture(scope="module")
def model_modules(tmp_path_factory: pytest.TempPathFactory):
    """The generated textclf project's model.py of each family and method (a project's
    model.py holds its spec's method only), imported on demand."""
    modules: dict = {}

    def get(model_type: str, method: str):
        if (model_type, method) not in modules:
            out = tmp_path_factory.mktemp(model_type)
            plan = plan_for("textclf", model_type, out, f"training.method={method}")
            name = f"generated_textclf_model_{model_type.replace('-', '_')}_{method}"
            modules[model_type, method] = rendered_module(out, plan, "model.py", name)
        return modules[model_type, method]

    return get


@pytest.mark.parametrize(
    ("model_type", "method"), TEXTCLF_ROWS, ids=[f"{m}-{f}" for m, f in TEXTCLF_ROWS]
)
def test_planned_trainable_parameters_equal_model_py(
    model_type: str, method: str, model_modules, tmp_path: Path
) -> None:
    from transformers import AutoModelForSequenceClassification

    from scriptgen.metamodel import parameters

    sets = [f"training.method={method}"] + (
        ["training.unfreeze_layers=1"] if method == "freeze" else []
    )
    plan = plan_for("textclf", model_type, tmp_path, *sets)
    labels = plan.spec.data["labels"]
    config = twin_config(model_type)
    config.num_labels = len(labels)
    checkpoint = tmp_path / "checkpoint"
    AutoModelForSequenceClassification.from_config(config).save_pretrained(checkpoint)
    options = {
        "freeze": {"unfreeze_layers": 1},
        "lora": {"lora": plan.spec.training.lora.model_dump()},
        "qlora": {"lora": plan.spec.training.lora.model_dump()},
        "prefix": {"num_virtual_tokens": 20},
        "prompt": {"num_virtual_tokens": 20},
    }.get(method, {})
    model = model_modules(model_type, method).load_model(
        str(checkpoint), labels, **options
    )
    expected = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total, trainable, _ = parameters(plan, twin_config(model_type))
    assert trainable == expected, (method, trainable, expected)
    if method == "full":
        assert total == sum(p.numel() for p in model.parameters())


def baseline_spec(folder: Path, task: str) -> Path:
    """A spec of ``task`` on a local tiny BERT (offline) with a prompt baseline."""
    model = folder / "tiny-bert"
    twin_config("bert").save_pretrained(model)
    spec = folder / "spec.yaml"
    spec.write_text(
        f"task: {task}\nmodel: {model}\nbaseline: {{llm: openai:http://127.0.0.1:9/v1}}\n"
    )
    return spec


def test_plan_prints_every_method_and_json(tmp_path: Path) -> None:
    # Offline, a hub model's config cannot be read: one line, exit 2.
    offline = {"HF_HUB_OFFLINE": "1"}
    result = run_scriptgen(
        "plan", "textclf", "--model", "bert-base", cwd=tmp_path, env=offline
    )
    assert result.returncode == 2
    assert "cannot read the config of google-bert/bert-base-uncased" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    spec = baseline_spec(tmp_path, "textclf")
    result = run_scriptgen(
        "plan", str(spec), "--examples", "5000", "--price-per-mtok", "0.2", "--json",
        cwd=tmp_path, env=offline,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    methods = ["full", "freeze", "lora", "qlora", "ia3", "prefix", "prompt"]
    assert [m["method"] for m in data["methods"]] == methods
    assert data["tokens"]["how"].startswith(
        "5000 training examples (--examples) x max_length 256"
    )
    assert data["baseline"]["cost_per_1000"]["value"] > 0
    # textclf's LLM answers with a label (scored, or a name of a few tokens): no answer
    # tokens counted, as tokclf's written JSON answers are.
    assert "completion_tokens_per_example" not in data["baseline"], data["baseline"]
    assert "answers" not in data["baseline"]["prompt_tokens_per_example"]["how"]
    full = data["methods"][0]
    assert full["trainable_params"] == full["total_params"]
    # 6 N T, N without the input embeddings (the twin's 30522 words x 32).
    dense = full["total_params"] - 30522 * 32
    assert full["flops"]["value"] == pytest.approx(6 * dense * data["tokens"]["value"])
    assert all(number["how"] for number in full["memory"].values())
    # The terminal table: the same figures, rendered (no second run of the estimate).
    from scriptgen.estimation import Estimate, MethodCost, Number
    from scriptgen.plan_text import render

    rows = [
        MethodCost(**{**m, "memory": {k: Number(**v) for k, v in m["memory"].items()},
                      "flops": Number(**m["flops"]),
                      "hours": {k: Number(**v) for k, v in m["hours"].items()},
                      "cost": {k: Number(**v) for k, v in m["cost"].items()}})
        for m in data["methods"]
    ]  # fmt: skip
    baseline = {k: Number(**v) for k, v in data["baseline"].items()}
    text = render(
        Estimate(data["task"], data["model"], Number(**data["tokens"]), rows, baseline)
    )
    for method in ("full", "freeze", "lora", "ia3", "prefix", "prompt"):
        assert f"\n{method} " in text, method
    assert "cost_per_1000: $" in text


def test_a_baseline_that_writes_its_answer_counts_its_tokens(tmp_path: Path) -> None:
    """tokclf's LLM writes a JSON list of entities: its tokens are counted."""
    result = run_scriptgen(
        "plan",
        str(baseline_spec(tmp_path, "tokclf")),
        "--json",
        cwd=tmp_path,
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    baseline = json.loads(result.stdout)["baseline"]
    assert 0 < baseline["completion_tokens_per_example"]["value"] <= 256, baseline
    assert "shots' answers" in baseline["prompt_tokens_per_example"]["how"]


@pytest.mark.parametrize(
    ("task", "model_type", "says"),
    [
        (
            "audioclf",
            "wav2vec2",
            (250, "5.0 s of audio at 50 frames/s = 250 positions"),
        ),
        ("imgclf", "vit", None),  # the twin's own image and patch sizes, below
        ("audioclf", "audio-spectrogram-transformer", None),  # patches are images' only
        ("textclf", "bert", (256, "max_length 256 tokens")),
    ],
)
def test_positions_per_example_are_the_manifests(
    task: str, model_type: str, says: tuple[int, str] | None, tmp_path: Path
) -> None:
    """How many positions an example becomes is the task manifest's data (patches for
    images, a data key's seconds for audio), not a guess from the model's config."""
    from scriptgen.estimation import _sequence

    config = twin_config(model_type)
    n, how = _sequence(plan_for(task, model_type, tmp_path), config)
    if task == "imgclf":
        side = config.image_size // config.patch_size
        assert n == side**2 + 1 and "patches of each image" in how
    elif says is None:  # an AST config has a patch size but is not an image model
        assert "patches" not in how and n == int(5.0 * 50)
    else:
        assert n == says[0] and how.startswith(says[1])
