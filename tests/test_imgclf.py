"""imgclf beyond the catalog's rows: its judge catches broken projects (broken the way a
code LLM might break them, `scriptgen validate` must fail naming the contract test that
caught it); the example spec (a folder of images per label) generates and validates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import assert_example_validates, breakage_tests

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
        "    id2label = {int(i): label for i, label in model.config.id2label.items()}\n",
        "    id2label = dict(enumerate(sorted(model.config.id2label.values())))\n",
        ["test_predictions_take_the_saved_models_label_names"],
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
