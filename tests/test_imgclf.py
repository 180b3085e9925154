"""imgclf beyond the catalog's rows: its judge catches broken projects (broken the way a
code LLM might break them, `scriptgen validate` must fail naming the contract test that
caught it); the example spec (a folder of images per label) generates and validates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import (
    assert_example_validates,
    assert_new_refuses,
    breakage_tests,
    generate_reference,
)

pytestmark = pytest.mark.slow

# (file, what the reference has, what the broken project has instead, tests that must fail).
# Validation images augmented like the training ones: tests/test_llm_repair.py's imgclf
# case, caught by test_augmentation_keeps_images_with_their_labels.
BREAKAGES = {
    # Greyscale, palette and RGBA files handed to the image processor as they are.
    "images-not-converted-to-rgb": (
        "data.py",
        '    return image if image.mode == "RGB" else image.convert("RGB")\n',
        "    return image\n",
        [
            "test_augmentation_keeps_images_with_their_labels",
            "test_train_writes_eval_results",
        ],
    ),
    # Predicted ids named by the sorted label names, not by the model's id2label.
    "predictions-named-by-sorted-labels": (
        "predict.py",
        "    results = load(model_dir)(images, top_k=1, batch_size=batch_size)\n",
        "    classify = load(model_dir)\n"
        "    config = classify.model.config\n"
        "    config.id2label = dict(enumerate(sorted(config.id2label.values())))\n"
        "    results = classify(images, top_k=1, batch_size=batch_size)\n",
        ["test_predictions_take_the_saved_models_label_names"],
    ),
    # The flip setting read but not honoured: images mirrored whatever it says.
    "flip-setting-ignored": (
        "data.py",
        "    if flip and random.random() < 0.5:\n",
        "    if random.random() < 0.5:\n",
        ["test_augmentation_follows_its_settings"],
    ),
    # train.py hands preprocess_datasets the declared defaults, columns aside:
    # config.yaml's augmentation settings and the flags never reach it.
    "augmentation-settings-not-passed": (
        "train.py",
        "        processed = preprocess_datasets(raw, image_processor, data_args)\n",
        "        processed = preprocess_datasets(raw, image_processor, DataArguments("
        "image_column=data_args.image_column, label_column=data_args.label_column))\n",
        ["test_augmentation_settings_reach_the_transform"],
    ),
    # The augmentation drawn from a random.Random of its own: each DataLoader worker
    # gets a copy of it, and every worker and every epoch crops the images alike.
    "augmentation-draws-from-its-own-random": (
        "data.py",
        "import random\n",
        "import random as _random\n\nrandom = _random.Random(0)\n",
        ["test_augmentation_draws_from_the_seeded_random_module"],
    ),
    # The code's Trainer defaults and config.yaml in one call: a config.yaml that sets
    # remove_unused_columns itself stops train.py with a TypeError.
    "config-repeats-a-trainer-default": (
        "train.py",
        "        remove_unused_columns=False,\n    )\n    parser.set_defaults(**config)\n",
        "        remove_unused_columns=False,\n        **config,\n    )\n",
        ["test_any_training_argument_in_the_file_or_as_a_flag"],
    ),
    # Hidden files taken as images: macOS's ._ copies fail to decode mid-training.
    "hidden-files-read": (
        "data.py",
        '        and not any(part.startswith(".") for part in path.relative_to(folder).parts)\n',
        "",
        ["test_a_folder_per_label_and_files_of_paths"],
    ),
    # The column settings left out of the loading: a folder given as --train_file over
    # the hub data's config.yaml (label_column: labels) gets columns "image" and "label".
    "column-settings-not-passed-to-the-loader": (
        "data.py",
        "read_files(path, args.image_column, args.label_column)",
        'read_files(path, "image", "label")',
        ["test_a_folder_on_the_command_line_takes_the_column_settings"],
    ),
}


reference_project, test_validate_fails_a_broken_project = breakage_tests(
    "imgclf", BREAKAGES, model="vit-base"
)


def test_the_shapes_example_validates(tmp_path: Path) -> None:
    """examples/imgclf-shapes.yaml: a folder of images per label, the labels in the
    spec's order; the judge writes its images in that layout."""
    assert_example_validates(
        tmp_path,
        "imgclf-shapes.yaml",
        ("train_file: ", "labels:"),
        {
            "test_model_learns_the_task",
            "test_a_folder_per_label_and_files_of_paths",
            "test_full_trains_every_layer",
        },
    )


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ([], {"crop_min_area": 0.5, "horizontal_flip": True}),
        (["data.crop_min_area=1", "data.horizontal_flip=false"],
         {"crop_min_area": 1.0, "horizontal_flip": False}),
    ],
)  # fmt: skip
def test_the_spec_sets_the_augmentation(
    tmp_path: Path, sets: list[str], expected: dict
) -> None:
    """data.crop_min_area and data.horizontal_flip become config.yaml's settings."""
    import yaml

    project = generate_reference(tmp_path, "imgclf", *sets, model="vit-base")
    config = yaml.safe_load((project / "config.yaml").read_text(encoding="utf-8"))
    assert {key: config[key] for key in expected} == expected


@pytest.mark.parametrize("value", ["0", "1.5", "-0.2"])
def test_a_crop_that_is_no_share_of_the_area_is_refused(
    tmp_path: Path, value: str
) -> None:
    said = assert_new_refuses(
        tmp_path, "imgclf", "vit-base", f"data.crop_min_area={value}"
    )
    assert "crop_min_area" in said
