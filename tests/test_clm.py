"""clm beyond the catalog's rows: its judge catches broken projects (broken the way a code
LLM might break them, `scriptgen validate` must fail naming the contract test that caught
it); the example spec (chat conversations in JSON Lines, loss on the assistant's turns)
generates and validates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import (
    assert_example_validates,
    assert_validate_catches,
    assert_validate_passes,
    breakage_tests,
    generate_reference,
)

pytestmark = pytest.mark.slow

CHAT_LABELS = """\
                token
                if any(s <= start < e for s, e in spans) and end > start
                else IGNORE_INDEX
"""

# (file, what the reference has, what the broken project has instead, tests that must fail)
BREAKAGES = {
    # Labels shifted by hand: the model shifts them again and learns the token after next.
    "labels-shifted-twice": (
        "data.py",
        '        "labels": [list(block) for block in blocks],\n',
        '        "labels": [list(block[1:]) + [IGNORE_INDEX] for block in blocks],\n',
        [
            "test_pack_texts_ends_documents_and_cuts_blocks",
            "test_model_learns_the_task",
        ],
    ),
    # Chat data trained on every token: the model learns to write the user's turns too.
    "chat-loss-on-every-token": (
        "data.py",
        CHAT_LABELS,
        "                token\n",
        ["test_chat_labels_only_the_assistants_turns"],
    ),
    # Perplexity from the wrong loss.
    "perplexity-not-exp-of-the-loss": (
        "train.py",
        '    return math.exp(loss) if loss < 700 else float("inf")\n',
        "    return 2**loss\n",
        ["test_train_writes_loss_and_perplexity"],
    ),
    # The prompt handed back as part of the completion.
    "completion-echoes-the-prompt": (
        "predict.py",
        '        new_tokens = generated[:, inputs["input_ids"].shape[1] :]\n',
        "        new_tokens = generated\n",
        ["test_model_learns_the_task"],
    ),
}


reference_project, test_validate_fails_a_broken_project = breakage_tests(
    "clm", BREAKAGES, model="smollm2-135m"
)


def test_the_chat_example_validates(tmp_path: Path) -> None:
    """examples/clm-chat.yaml: JSON Lines with a messages column, the loss on the
    assistant's turns, LoRA (the catalog's clm adapter rows train on plain text); the
    judge writes its conversations in that layout."""
    assert_example_validates(
        tmp_path,
        "clm-chat.yaml",
        ("kind: chat", "messages_column: messages"),
        {
            "test_model_learns_the_task",
            "test_chat_labels_only_the_assistants_turns",
            "test_lora_is_merged_and_changes_only_adapted_weights",
        },
    )


def test_lora_on_plain_text_is_judged_by_its_held_out_loss(tmp_path: Path) -> None:
    """LoRA on packed documents (the catalog's rows run it on every family): the judge
    proves it by how far the held-out loss fell below the twin's; a project whose labels
    are shifted twice learns the token after next, and that loss does not fall."""
    lora_on_text = generate_reference(
        tmp_path, "clm", "training.method=lora", model="smollm2-135m"
    )
    assert_validate_passes(lora_on_text, tmp_path, "test_model_learns_the_task")
    assert_validate_catches(
        lora_on_text, tmp_path / "broken", BREAKAGES["labels-shifted-twice"][:3]
        + (["test_model_learns_the_task"],),
    )  # fmt: skip
