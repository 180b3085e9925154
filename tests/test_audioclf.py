"""audioclf beyond the catalog's rows: its judge catches broken projects (broken the way a
code LLM might break them, `scriptgen validate` must fail naming the contract test that
caught it); the example spec (a folder of audio files per label) generates and validates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import assert_example_validates, breakage_tests

pytestmark = pytest.mark.slow

# (file, what the reference has, what the broken project has instead, tests that must fail).
# Clips never resampled: tests/test_llm_repair.py's audioclf case, caught by
# test_clips_are_mono_resampled_and_cut.
BREAKAGES = {
    # Every training clip cut from its start: the model never hears the rest.
    "training-clips-cut-at-the-start": (
        "data.py",
        "            if train and args.random_crop and len(samples) > length:  # a random stretch\n",
        "            if False:\n",
        ["test_clips_are_mono_resampled_and_cut"],
    ),
    # random_crop false read but not honoured: long training clips still cut at random.
    "random-crop-setting-ignored": (
        "data.py",
        "            if train and args.random_crop and len(samples) > length:  # a random stretch\n",
        "            if train and len(samples) > length:\n",
        ["test_random_crop_false_takes_the_start"],
    ),
    # The random crops drawn from a random.Random of its own: each DataLoader worker
    # gets a copy of it, and every worker and every epoch cuts the clips alike.
    "random-crop-draws-from-its-own-random": (
        "data.py",
        "import random\n",
        "import random as _random\n\nrandom = _random.Random(0)\n",
        ["test_random_crop_draws_from_the_seeded_random_module"],
    ),
    # train.py hands preprocess_datasets the declared defaults, columns aside:
    # config.yaml's random_crop and the flag never reach it.
    "random-crop-not-passed": (
        "train.py",
        "        processed = preprocess_datasets(raw, feature_extractor, data_args)\n",
        "        processed = preprocess_datasets(raw, feature_extractor, DataArguments("
        "audio_column=data_args.audio_column, label_column=data_args.label_column,"
        " max_duration=data_args.max_duration))\n",
        ["test_augmentation_settings_reach_the_transform"],
    ),
}


reference_project, test_validate_fails_a_broken_project = breakage_tests(
    "audioclf", BREAKAGES, model="wav2vec2-base"
)


def test_the_sounds_example_validates(tmp_path: Path) -> None:
    """examples/audioclf-sounds.yaml: a folder of audio files per label (FLAC), the
    labels in the spec's order; the judge writes its clips in that layout."""
    assert_example_validates(
        tmp_path,
        "audioclf-sounds.yaml",
        ("train_file: ", "max_duration: 1.0"),
        {
            "test_model_learns_the_task",
            "test_a_folder_per_label_and_files_of_paths",
            "test_clips_are_mono_resampled_and_cut",
            "test_freeze_trains_only_the_top_layers_and_head",
        },
    )
