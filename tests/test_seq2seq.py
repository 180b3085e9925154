"""seq2seq beyond the catalog's rows: its judge catches broken projects (broken the way a
code LLM might break them, `scriptgen validate` must fail naming the contract test that
caught it); the example spec (WMT-style translation pairs in JSON Lines, mT5, LoRA)
generates and validates. Its LLM repair through a scripted server:
tests/test_llm_repair.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import assert_example_validates, breakage_tests

pytestmark = pytest.mark.slow

STEMMED = "    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)\n"
UNSTEMMED = "    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES))\n"

# (file, what the reference has, what the broken project has instead, tests that must fail)
BREAKAGES = {
    # T5 fine-tuned without its task prefix: "summarize: " is what it was trained to read.
    "no-t5-prefix": (
        "data.py",
        '    return "summarize: "\n',
        '    return ""\n',
        ["test_source_prefix_is_t5s_task_prefix_unless_given"],
    ),
    # ROUGE without stemming: not the numbers the examples (and papers) report.
    "rouge-unstemmed": (
        "metrics.py",
        STEMMED,
        UNSTEMMED,
        ["test_generation_scores_are_rouge_bleu_and_chrf"],
    ),
    # Generations scored against the sources: eval_results.json says nothing true.
    "scored-against-the-sources": (
        "train.py",
        "            text_of(t, data_args.target_lang)\n"
        "            for t in references[data_args.target_column]\n",
        "            text_of(t, data_args.source_lang)\n"
        "            for t in references[data_args.source_column]\n",
        ["test_model_learns_the_task"],
    ),
    # The Trainer pads generated ids with -100, which the tokenizer cannot decode.
    "padding-not-read-as-pad": (
        "metrics.py",
        "    ids = np.where(ids < 0, tokenizer.pad_token_id, ids)\n",
        "",
        ["test_decode_predictions_reads_the_trainer_padding"],
    ),
    # The generation config's max_new_tokens set whatever --generation_max_length says:
    # it takes precedence over the max_length the Trainer passes, so the flag does nothing.
    "generation-max-length-ignored": (
        "train.py",
        "    if training_args.generation_max_length is None:\n"
        "        model.generation_config.max_new_tokens = data_args.max_target_length\n",
        "    model.generation_config.max_new_tokens = data_args.max_target_length\n",
        ["test_the_trainers_generation_flags_hold"],
    ),
    # Generation metrics computed on logits when evaluation does not generate.
    "metrics-without-generation": (
        "train.py",
        "        compute_metrics=metrics_fn if training_args.predict_with_generate else None,\n",
        "        compute_metrics=metrics_fn,\n",
        ["test_the_trainers_generation_flags_hold"],
    ),
}


reference_project, test_validate_fails_a_broken_project = breakage_tests(
    "seq2seq", BREAKAGES, model="t5-small"
)


def test_the_translation_example_validates(tmp_path: Path) -> None:
    """examples/seq2seq-translation.yaml: JSON Lines with one column of {language: text}
    pairs, mT5 with LoRA; the judge writes its data in that layout."""
    assert_example_validates(
        tmp_path,
        "seq2seq-translation.yaml",
        ("source_column: translation", "target_lang: de"),
        {
            "test_model_learns_the_task",
            "test_lora_is_merged_and_changes_only_adapted_weights",
        },
    )
