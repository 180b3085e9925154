"""Entity-level scores for tagged sentences, as seqeval (default mode) and conlleval count.

An entity is a maximal chunk of words: B-X starts one of type X, I-X continues it. An I-X
after O or after another type starts a new entity too (IOB1 data and broken predictions
are scored as conlleval scores them). E-X and S-X (IOBES) are read as seqeval reads them.
A predicted entity counts only if its type and both of its ends are right.
"""

from __future__ import annotations

OUTSIDE = "O"


def _split(tag: str) -> tuple[str, str]:
    """("B", "PER") for "B-PER"; seqeval's reading: the first character is the prefix."""
    return tag[:1], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends(prev_prefix: str, prefix: str, prev_type: str, type_: str) -> bool:
    if prev_prefix in ("E", "S"):
        return True
    if prev_prefix in ("B", "I") and prefix in ("B", "S", "O"):
        return True
    return prev_prefix not in ("O", ".") and prev_type != type_


def _starts(prev_prefix: str, prefix: str, prev_type: str, type_: str) -> bool:
    if prefix in ("B", "S"):
        return True
    if prev_prefix in ("E", "S", "O") and prefix in ("E", "I"):
        return True
    return prefix not in ("O", ".") and prev_type != type_


def get_entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """The (type, start, end) entities of one sentence's tags; end is inclusive.

    >>> get_entities(["B-PER", "I-PER", "O", "I-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3)]
    """
    entities = []
    prev_prefix, prev_type, start = OUTSIDE, "", 0
    for i, tag in enumerate([*tags, OUTSIDE]):
        prefix, type_ = _split(tag)
        if _ends(prev_prefix, prefix, prev_type, type_):
            entities.append((prev_type, start, i - 1))
        if _starts(prev_prefix, prefix, prev_type, type_):
            start = i
        prev_prefix, prev_type = prefix, type_
    return entities


def word_tags(
    predictions, label_ids, labels: list[str], ignore_index: int
) -> tuple[list[list[str]], list[list[str]]]:
    """Each sentence's true and predicted tag names over each word's first sub-token
    (the positions whose label id is not ``ignore_index``), from the Trainer's id
    arrays."""
    true_tags, pred_tags = [], []
    for pred_row, label_row in zip(predictions, label_ids):
        scored = label_row != ignore_index
        true_tags.append([labels[i] for i in label_row[scored]])
        pred_tags.append([labels[i] for i in pred_row[scored]])
    return true_tags, pred_tags


def _scores(expected: set, predicted: set) -> dict[str, float]:
    """Precision, recall and F1 of the predicted entities against the expected ones."""
    correct = len(expected & predicted)
    precision = correct / len(predicted) if predicted else 0.0
    recall = correct / len(expected) if expected else 0.0
    total = precision + recall
    f1 = 2 * precision * recall / total if total else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_scores(
    true_tags: list[list[str]], pred_tags: list[list[str]]
) -> dict[str, object]:
    """Micro-averaged entity precision, recall and F1, token accuracy, and per-type scores.

    ``true_tags`` and ``pred_tags`` hold one list of tags per sentence, of equal lengths.
    """
    if len(true_tags) != len(pred_tags):
        raise ValueError(
            f"{len(true_tags)} true sentences but {len(pred_tags)} predicted ones"
        )
    expected, predicted = set(), set()  # (type, sentence, start, end)
    right = words = 0
    for sentence, (true, pred) in enumerate(zip(true_tags, pred_tags)):
        if len(true) != len(pred):
            raise ValueError(
                f"sentence {sentence}: {len(true)} true tags, {len(pred)} predicted"
            )
        expected |= {(t, sentence, s, e) for t, s, e in get_entities(list(true))}
        predicted |= {(t, sentence, s, e) for t, s, e in get_entities(list(pred))}
        right += sum(t == p for t, p in zip(true, pred))
        words += len(true)

    per_type = {}
    for type_ in sorted({entity[0] for entity in expected | predicted}):
        true = {entity for entity in expected if entity[0] == type_}
        pred = {entity for entity in predicted if entity[0] == type_}
        per_type[type_] = {
            **_scores(true, pred),
            "support": len(true),
            "predicted": len(pred),
        }
    return {
        **_scores(expected, predicted),
        "accuracy": right / words if words else 0.0,
        "per_type": per_type,
    }
