"""textclf's judge catches projects that run but train wrong: a generated project is broken
on purpose and `scriptgen validate` must fail, naming the contract tests that caught it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import (
    assert_validate_catches,
    assert_validate_passes,
    generate_reference,
    run_scriptgen,
)

pytestmark = pytest.mark.slow

# (file, what the reference has, what the broken project has instead, tests that must fail)
BREAKAGES = {
    # A --config file that is not there ends in a traceback, not one clear error.
    "missing-settings-file-traceback": (
        "train.py",
        '    if not path.is_file():\n        parser.error(f"no settings file {path}")\n',
        "",
        ["test_an_unknown_key_or_flag_is_one_clear_error"],
    ),
    # A config.yaml that is not YAML ends in PyYAML's traceback, not one clear error.
    "malformed-settings-file-traceback": (
        "train.py",
        "    try:\n"
        '        with path.open(encoding="utf-8") as f:\n'
        "            config = yaml.safe_load(f) or {}\n"
        "    except yaml.YAMLError as exc:  # on one line: what, and the file's line and "
        "column\n"
        '        parser.error(" ".join(str(exc).split()))\n',
        '    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}\n',
        ["test_an_unknown_key_or_flag_is_one_clear_error"],
    ),
    # A best-model metric that the run does not report (a code LLM's answer to "also
    # report the weighted F1"): every evaluation with a checkpoint would stop training.
    "best-model-metric-not-reported": (
        "config.yaml",
        "resume_from_checkpoint: null\n",
        "resume_from_checkpoint: null\nmetric_for_best_model: weighted_f1\n",
        ["test_metric_for_best_model_is_one_the_run_reports"],
    ),
    # Every label becomes class 0: the model learns one class. (Behind an `if`: the rest
    # of the function after a bare `return` is unreachable code, which the static check
    # stops before the judge runs.)
    "labels-collapse-to-one-class": (
        "data.py",
        '    """The class id of one label value."""\n',
        '    """The class id of one label value."""\n    if scheme.names:\n        return 0\n',
        ["test_label_mapping_follows_the_column_type", "test_model_learns_the_task"],
    ),
    # The model is told the label names in another order than the ids the data was
    # encoded with (id2label and label2id agree with each other, not with the data).
    "wrong-id2label": (
        "train.py",
        "        model_args.model_name_or_path,\n        scheme.names,\n",
        "        model_args.model_name_or_path,\n        scheme.names[::-1],\n",
        ["test_saved_config_names_the_labels", "test_model_learns_the_task"],
    ),
    # --method freeze freezes nothing: the model still learns, only the weight
    # comparison can tell.
    "freeze-trains-everything": (
        "model.py",
        "    for param in model.parameters():\n        param.requires_grad = False\n",
        "    for param in model.parameters():\n        param.requires_grad = True\n",
        ["test_freeze_trains_only_the_top_layers_and_head"],
    ),
    # The labels collapse, and the code tries to forge the verdict: it rewrites any test
    # report it can find and forces exit status 0 when its process ends. It runs in the
    # judge's worker, which cannot write the report, and whose exit is its own.
    "collapsed-labels-with-a-forged-verdict": (
        "data.py",
        '    """The class id of one label value."""\n',
        '    """The class id of one label value."""\n'
        "    import atexit, glob, os\n"
        "    def forge():\n"
        "        for path in glob.glob('/tmp/scriptgen-validate-*/report/*'):\n"
        "            try:\n"
        "                with open(path, 'w') as f:\n"
        "                    f.write('<testsuites/>')\n"
        "            except OSError:\n"
        "                pass\n"
        "        os._exit(0)\n"
        "    atexit.register(forge)\n"
        "    if scheme.names:\n"
        "        return 0\n",
        ["test_label_mapping_follows_the_column_type", "test_model_learns_the_task"],
    ),
    # config.yaml's relative paths read against the working directory, not its folder:
    # `python train.py` works from the project folder only.
    "config-paths-not-rebased": (
        "train.py",
        "            config[key] = str(local)\n",
        "            config[key] = str(config[key])\n",
        [
            "test_parse_args_defaults_come_from_config",
            "test_each_setting_through_the_file_and_through_a_flag",
        ],
    ),
    # config.yaml wins over a flag for one setting: the flag is accepted and ignored.
    "a-flag-loses-to-config": (
        "train.py",
        "    if not model_args.model_name_or_path:\n",
        '    training_args.seed = config.get("seed", training_args.seed)\n'
        "    if not model_args.model_name_or_path:\n",
        ["test_each_setting_through_the_file_and_through_a_flag"],
    ),
    # A key of config.yaml that is no setting is dropped without a word (a typo in a
    # setting's name would go unnoticed).
    "unknown-config-key-ignored": (
        "train.py",
        "    unknown = sorted(set(config) - names)\n",
        "    config = {k: v for k, v in config.items() if k in names}\n"
        "    unknown = sorted(set(config) - names)\n",
        ["test_an_unknown_key_or_flag_is_one_clear_error"],
    ),
    # A made-up metric: eval_results.json claims what the predictions do not earn.
    "hard-coded-accuracy": (
        "train.py",
        '        "accuracy": float((predicted == references).all(-1).mean()),',
        '        "accuracy": 1.0,',
        ["test_model_learns_the_task"],
    ),
    # Macro F1 averaged over every label, one in neither the data nor the predictions
    # counted as a class scored 0 (labels 1-5 read as ids 0-5 cap it at 5/6).
    "f1-macro-counts-absent-labels": (
        "train.py",
        '        "f1_macro": float(f1[seen].mean()),\n',
        '        "f1_macro": float(f1.mean()),\n',
        ["test_f1_macro_leaves_out_a_label_neither_true_nor_predicted"],
    ),
    # A validation_file beside a hub dataset, accepted and never read.
    "validation-file-ignored-beside-a-hub-dataset": (
        "train.py",
        '        parser.error("validation_file goes with train_file, not dataset_name")\n',
        "        pass\n",
        ["test_a_validation_file_without_a_train_file_is_refused"],
    ),
    # A local dataset or checkpoint folder in config.yaml taken as relative to the working
    # directory: train.py finds it only when run from the project's folder.
    "config-folders-relative-to-the-working-directory": (
        "train.py",
        'MAYBE_LOCAL = ("model_name_or_path", "dataset_name", "resume_from_checkpoint")\n',
        'MAYBE_LOCAL = ("model_name_or_path",)\n',
        ["test_local_folders_in_config_are_relative_to_it"],
    ),
    # predict.py on a checkpoint folder falls back to config.yaml's data settings, not the
    # run's (a column or max_length given as a flag to train.py is lost).
    "checkpoint-predicts-with-config-settings": (
        "predict.py",
        "        saved = saved.parent.parent / saved.name\n",
        "        pass\n",
        ["test_predict_on_a_checkpoint_takes_the_runs_settings"],
    ),
}


# The method judges (tests/test_method.py) read the saved weights (and, for qlora, the
# loaded model) themselves: projects that break a method's promise but still learn.
# (method, breakage)
PEFT_MODEL = "    return peft.get_peft_model(model, peft_config)\n"
PREFIX_CONFIG = (
    "        num_attention_heads=config.num_attention_heads,\n"
    "        modules_to_save=list(head),\n"
    "    )\n"
    "    return peft.get_peft_model(model, peft_config)\n"
)
METHOD_BREAKAGES = {
    # LoRA that also trains the word embeddings: merged, they differ from the base
    # model's, which LoRA never changes.
    "lora-trains-the-embeddings": (
        "lora",
        (
            "model.py",
            PEFT_MODEL,
            "    model = peft.get_peft_model(model, peft_config)\n"
            "    model.get_input_embeddings().weight.requires_grad_(True)\n"
            "    return model\n",
            ["test_lora_is_merged_and_changes_only_adapted_weights"],
        ),
    ),
    # A prefix-tuning adapter that carries a trained copy of the embeddings: loaded onto
    # the base model, it replaces the pretrained ones.
    "prefix-adapter-carries-the-embeddings": (
        "prefix",
        (
            "model.py",
            PREFIX_CONFIG,
            PREFIX_CONFIG.replace("list(head)", '[*head, "embeddings"]'),
            ["test_prefix_leaves_the_base_model_untouched"],
        ),
    ),
    # A run that stops before its final save leaves checkpoints of the adapter alone:
    # predict.py on one finds no config (labels) to load it with.
    "prefix-checkpoint-without-a-config": (
        "prefix",
        (
            "train.py",
            "        save_config(model, training_args.output_dir)  # for a checkpoint's "
            "adapter\n",
            "",
            ["test_a_checkpoint_of_an_unfinished_run_loads_with_its_labels"],
        ),
    ),
    # load_trained() looks for a checkpoint's config in the checkpoint alone.
    "lora-checkpoint-config-not-found": (
        "lora",
        (
            "model.py",
            'saved if (saved / "config.json").is_file() else saved.parent',
            "saved",
            ["test_a_checkpoint_of_an_unfinished_run_loads_with_its_labels"],
        ),
    ),
    # Prompt tuning that cuts the text to the model's full length: the virtual tokens
    # overflow the position embeddings (only with a tokenizer at the model's limit: the
    # twin's is half of it, so only the saved tokenizer tells).
    "prompt-text-takes-the-virtual-tokens-positions": (
        "prompt",
        (
            "train.py",
            "    tokenizer.model_max_length -= model_args.num_virtual_tokens\n",
            "",
            ["test_prompt_leaves_the_virtual_tokens_their_positions"],
        ),
    ),
    # "QLoRA" on the model in full precision: it trains and saves a LoRA adapter as
    # QLoRA does; only the loaded model's layers tell.
    "qlora-without-4-bit-weights": (
        "qlora",
        (
            "model.py",
            "    model = _load_4bit(model_name_or_path, kwargs)\n",
            "    model = AUTO_CLASS.from_pretrained(model_name_or_path, **kwargs)\n",
            ["test_qlora_trains_adapters_over_a_4bit_base_model"],
        ),
    ),
}


@pytest.fixture(scope="module")
def reference_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_reference(
        tmp_path_factory.mktemp("reference"), "textclf", "training.method=freeze"
    )


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_validate_fails_a_broken_project(
    reference_project: Path, tmp_path: Path, breakage: str
) -> None:
    assert_validate_catches(reference_project, tmp_path, BREAKAGES[breakage])


@pytest.mark.parametrize("breakage", list(METHOD_BREAKAGES))
def test_the_method_judge_fails_a_method_that_breaks_its_promise(
    tmp_path: Path, breakage: str
) -> None:
    method, broken = METHOD_BREAKAGES[breakage]
    (tmp_path / "reference").mkdir()
    reference = generate_reference(
        tmp_path / "reference", "textclf", f"training.method={method}"
    )
    assert_validate_catches(reference, tmp_path, broken)


@pytest.fixture(scope="module")
def multi_label_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_reference(
        tmp_path_factory.mktemp("multi"), "textclf", "data.multi_label=true"
    )


def test_a_multi_label_project_is_black_clean_and_validates(
    multi_label_project: Path, tmp_path: Path
) -> None:
    """A spec with data.multi_label gets the multi-label code only (multi-hot targets,
    sigmoid scores, --threshold, --label_separator), and its judge passes it."""
    import black

    for path in sorted(multi_label_project.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert black.format_str(text, mode=black.Mode()) == text, path.name
    assert "--threshold" in (multi_label_project / "predict.py").read_text("utf-8")
    result = run_scriptgen("validate", str(multi_label_project), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_fails_a_multi_label_project_that_predicts_the_other_labels(
    multi_label_project: Path, tmp_path: Path
) -> None:
    breakage = (
        "predict.py",
        "chosen = [i for i, p in enumerate(row) if p >= threshold]",
        "chosen = [i for i, p in enumerate(row) if p < threshold]",
        ["test_model_learns_the_task"],
    )
    assert_validate_catches(multi_label_project, tmp_path, breakage)


def test_lora_trains_its_adapters_with_activation_checkpointing(tmp_path: Path) -> None:
    """training.gradient_checkpointing reaches the run (--activation_checkpointing), and
    with transformers' own checkpointing settings LoRA's adapters, fed by frozen
    layers, still train: the judge sees them merged into the layers that changed."""
    project = generate_reference(
        tmp_path,
        "textclf",
        "training.method=lora",
        "training.gradient_checkpointing=true",
    )
    config = (project / "config.yaml").read_text(encoding="utf-8")
    assert "activation_checkpointing: true" in config
    assert "use_reentrant" not in (project / "train.py").read_text(encoding="utf-8")
    assert_validate_passes(
        project,
        tmp_path,
        "test_lora_is_merged_and_changes_only_adapted_weights",
        "test_model_learns_the_task",
    )
