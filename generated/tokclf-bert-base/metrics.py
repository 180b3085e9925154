"""Entity-level scores as seqeval counts them (conlleval's reading: an I-X after O or
another type starts an entity). A predicted entity counts if its type and ends are right.
"""

from __future__ import annotations

from seqeval.metrics.sequence_labeling import get_entities


def word_tags(
    logits, label_ids, labels: list[str]
) -> tuple[list[list[str]], list[list[str]]]:
    """Each sentence's true and predicted (argmax) tags where it has a label id (each
    word's first sub-token; -100 elsewhere), from the Trainer's arrays."""
    true_tags, pred_tags = [], []
    for pred_row, label_row in zip(logits.argmax(-1), label_ids):
        scored = label_row >= 0
        true_tags.append([labels[i] for i in label_row[scored]])
        pred_tags.append([labels[i] for i in pred_row[scored]])
    return true_tags, pred_tags


def _scores(expected: set, predicted: set) -> dict[str, float]:
    correct = len(expected & predicted)
    return {
        "precision": correct / max(len(predicted), 1),
        "recall": correct / max(len(expected), 1),
        "f1": 2 * correct / max(len(expected) + len(predicted), 1),
    }


def entity_scores(
    true_tags: list[list[str]], pred_tags: list[list[str]]
) -> dict[str, object]:
    """Micro-averaged entity precision, recall and F1, word accuracy, and per-type scores
    of sentences' tags (lists of equal lengths)."""
    if list(map(len, true_tags)) != list(map(len, pred_tags)):
        raise ValueError("the true and predicted tags differ in sentences or words")
    # (type, start, end) over the sentences end to end, as seqeval counts.
    expected, predicted = set(get_entities(true_tags)), set(get_entities(pred_tags))
    pairs = [pair for tags in zip(true_tags, pred_tags) for pair in zip(*tags)]

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
        "accuracy": sum(t == p for t, p in pairs) / len(pairs) if pairs else 0.0,
        "per_type": per_type,
    }
