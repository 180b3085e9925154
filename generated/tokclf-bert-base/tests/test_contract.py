"""Contract tests: what every version of this project's code must do.

Rendered by scriptgen; run with `pytest tests` (offline, CPU, seconds). The fixtures in
conftest.py build a tiny twin of the model and synthetic NER data, then train once.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

# conftest.py puts tests/ on sys.path. (Kept out of isort's way: whether it calls these
# modules first- or third-party depends on where it runs.)
# isort: off
from conftest import (
    LABELS,
    MAX_LENGTH,
    METRIC,
    METRICS,
    MIN_F1,
    MODEL_TYPE,
    OUTSIDE,
    TAG_NAMES,
    TAGS_COLUMN,
    TOKENS_COLUMN,
    TRAIN_STEPS,
    TYPES,
    features,
    judge_entities,
    judge_f1,
    rows_of,
    write_jsonl,
)
import harness

# isort: on

# The project's modules, run in a process of their own (harness.py).
data = harness.module("data")
metrics = harness.module("metrics")
predict = harness.module("predict")
train = harness.module("train")

IGNORE = -100


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def saved_labels(model_dir: Path) -> list[str]:
    config = harness.model_config(model_dir)
    id2label = {int(i): label for i, label in config.get("id2label", {}).items()}
    label2id = config.get("label2id")
    assert sorted(id2label) == list(range(len(id2label))), id2label
    assert label2id == {
        label: i for i, label in id2label.items()
    }, f"label2id {label2id} is not the inverse of id2label {id2label}"
    return [id2label[i] for i in range(len(id2label))]


# --- the judge's own fixtures ---------------------------------------------------------


def twin_logits_shape(twin_dir: str, texts: list[str]) -> list:
    """Runs in the project's process: the twin through the Auto classes, offline; the
    input ids' and the logits' shapes, and the model type."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(twin_dir)
    twin = AutoModelForTokenClassification.from_pretrained(twin_dir, num_labels=3)
    inputs = tokenizer(texts, padding=True, return_tensors="pt")
    shapes = [list(inputs["input_ids"].shape), list(twin(**inputs).logits.shape)]
    return [*shapes, twin.config.model_type]


def test_twin_loads(twin_dir: Path) -> None:
    """The judge's own fixture: a checkpoint that the Auto classes load offline."""
    texts = ["alice met bob", "in berlin"]
    inputs, logits, model_type = harness.run(twin_logits_shape, str(twin_dir), texts)
    assert logits == [*inputs, 3]
    assert model_type == MODEL_TYPE


def test_judge_reads_entities_as_seqeval_does() -> None:
    assert judge_entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"]) == {
        ("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4),
    }  # fmt: skip
    assert judge_f1([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]]) == 0.0


# --- metrics.py ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, entities",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
        # An I- after O, or after another type, starts an entity (conlleval).
        (["O", "I-ORG", "I-ORG", "I-PER"], [("ORG", 1, 2), ("PER", 3, 3)]),
        (["B-PER", "B-PER", "I-LOC"], [("PER", 0, 0), ("PER", 1, 1), ("LOC", 2, 2)]),
        (["O", "O"], []),
        (["B-MISC"], [("MISC", 0, 0)]),
    ],
)
def test_get_entities(tags: list[str], entities: list[tuple]) -> None:
    assert sorted(map(tuple, metrics.get_entities(tags))) == sorted(entities)


def test_entity_scores() -> None:
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "I-ORG", "O"]]
    scores = metrics.entity_scores(true, pred)
    # Gold: PER, LOC, ORG; predicted: PER (right), ORG (wrong type), ORG (wrong end).
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(1 / 3)
    assert scores["accuracy"] == pytest.approx(5 / 7)
    per_type = scores["per_type"]
    assert per_type["PER"]["f1"] == pytest.approx(1.0)
    assert per_type["LOC"]["recall"] == 0.0 and per_type["LOC"]["support"] == 1
    assert per_type["ORG"]["precision"] == 0.0
    nothing = metrics.entity_scores([["O", "O"]], [["O", "O"]])
    assert nothing["f1"] == 0.0 and nothing["accuracy"] == 1.0


# --- data.py: tags, and tags aligned with sub-tokens -------------------------------------


def test_b_to_i_map() -> None:
    labels = ["O", "B-PER", "I-PER", "B-LOC", "B-ORG", "I-ORG"]
    # B-LOC has no I-LOC: it stays itself.
    assert data.b_to_i_map(labels) == [0, 2, 2, 3, 5, 5]


def test_align_labels() -> None:
    # [CLS] w0 w0 w1 w2 w2 w2 [SEP]; tags O=0, B-PER=1, I-PER=2.
    word_ids = [None, 0, 0, 1, 2, 2, 2, None]
    word_labels = [1, 0, 1]
    assert data.align_labels(word_ids, word_labels, False, [0, 2, 2]) == [
        IGNORE, 1, IGNORE, 0, 1, IGNORE, IGNORE, IGNORE,
    ]  # fmt: skip
    assert data.align_labels(word_ids, word_labels, True, [0, 2, 2]) == [
        IGNORE, 1, 2, 0, 1, 2, 2, IGNORE,
    ]  # fmt: skip


def _splits(sentences: dict[str, list], as_ids: bool, class_labels: bool = False):
    """The sentences' rows per split (tags as names or ids) and, for ClassLabel tags,
    the features (JSON): what a worker function builds a DatasetDict from."""
    rows = {split: rows_of(s, as_ids or class_labels) for split, s in sentences.items()}
    return rows, features() if class_labels else None


def tokenized(twin_dir: str, splits: dict, columns: list, tags: list, options: dict):
    """Runs in the project's process: the twin's tokenizer as train.py loads it, the
    rows of each split as a dataset through data.tokenize_datasets, and each sentence
    encoded alone."""
    from datasets import Dataset, DatasetDict

    import data
    import model

    tokenizer = data.prepare_tokenizer(
        model.load_tokenizer(twin_dir, add_prefix_space=True)
    )
    raw = DatasetDict(
        {split: Dataset.from_list(rows) for split, rows in splits.items()}
    )
    result = data.tokenize_datasets(raw, tokenizer, *columns, tags, **options)
    found = {}
    for split in raw:
        encodings = [
            tokenizer(
                row[columns[0]],
                is_split_into_words=True,
                truncation=True,
                max_length=options["max_length"],
            )
            for row in raw[split]
        ]
        found[split] = {
            "column_names": result[split].column_names,
            "input_ids": result[split]["input_ids"],
            "labels": result[split]["labels"],
            "expected_ids": [e["input_ids"] for e in encodings],
            "word_ids": [e.word_ids() for e in encodings],
        }
    return found


@pytest.mark.parametrize("label_all_tokens", [False, True])
def test_tokenize_datasets_aligns_tags_with_sub_tokens(
    twin_dir: Path, sentences: dict[str, list], label_all_tokens: bool
) -> None:
    splits, _ = _splits(sentences, as_ids=False)
    options = {"max_length": MAX_LENGTH, "label_all_tokens": label_all_tokens}
    columns = [TOKENS_COLUMN, TAGS_COLUMN]
    found = harness.run(tokenized, str(twin_dir), splits, columns, TAG_NAMES, options)
    tag_id = {tag: i for i, tag in enumerate(TAG_NAMES)}
    b_to_i = [
        tag_id.get("I-" + tag[2:], i) if tag.startswith("B-") else i
        for i, tag in enumerate(TAG_NAMES)
    ]
    split_words = 0
    for split in ("train", "validation"):
        rows = found[split]
        assert set(rows["column_names"]) >= {"input_ids", "labels"}
        for (words, tags), input_ids, labels, expected_ids, word_ids in zip(
            sentences[split],
            rows["input_ids"],
            rows["labels"],
            rows["expected_ids"],
            rows["word_ids"],
        ):
            assert input_ids == expected_ids
            expected, previous = [], None
            for word in word_ids:
                if word is None:
                    expected.append(IGNORE)
                elif word != previous:
                    expected.append(tag_id[tags[word]])
                elif label_all_tokens and split == "train":
                    expected.append(b_to_i[tag_id[tags[word]]])
                    split_words += 1
                else:
                    expected.append(IGNORE)
                    split_words += 1
                previous = word
            assert labels == expected, (
                f"{split} labels for {words} {tags}: {labels}, expected "
                f"{expected} (the first sub-token of each word"
                + (", and in training the others as I-" if label_all_tokens else "")
                + ")"
            )
    assert split_words, "the judge's data has no word of several sub-tokens"


def encoded_labels(
    twin_dir: str, sources: dict, columns: list, tags: list, max_length: int
):
    """Runs in the project's process: each data source through data.load_raw_datasets,
    data.resolve_labels and data.tokenize_datasets; the labels and the validation ids.
    """
    import data
    import model

    tokenizer = data.prepare_tokenizer(
        model.load_tokenizer(twin_dir, add_prefix_space=True)
    )
    found = {}
    for kind, source in sources.items():
        raw = data.load_raw_datasets(**source)
        labels = data.resolve_labels(raw["train"], columns[1], tags)
        result = data.tokenize_datasets(raw, tokenizer, *columns, labels, max_length)
        found[kind] = [list(labels), result["validation"]["labels"]]
    return found


def test_tag_names_ids_and_class_labels_encode_alike(
    twin_dir: Path, sentences: dict[str, list], tmp_path: Path
) -> None:
    """The same sentences as JSON Lines with tag names, as JSON Lines with tag ids, and
    as a hub-style dataset with Sequence(ClassLabel) tags, each through
    load_raw_datasets, give the same labels."""
    from conftest import write_hub_dataset

    sources = {}
    for kind, as_ids in (("names", False), ("ids", True)):
        files = {
            split: write_jsonl(tmp_path / f"{kind}-{split}.jsonl", rows_of(s, as_ids))
            for split, s in sentences.items()
        }
        sources[kind] = {
            "train_file": str(files["train"]),
            "validation_file": str(files["validation"]),
        }
    hub = write_hub_dataset(
        tmp_path / "hub",
        {split: rows_of(s, as_ids=True) for split, s in sentences.items()},
    )
    sources["class labels"] = {"dataset_name": str(hub)}
    columns = [TOKENS_COLUMN, TAGS_COLUMN]
    found = harness.run(
        encoded_labels, str(twin_dir), sources, columns, TAG_NAMES, MAX_LENGTH
    )
    for kind, (labels, _) in found.items():
        assert labels == TAG_NAMES, f"{kind}: {labels}"
    encoded = {kind: ids for kind, (_, ids) in found.items()}
    assert (
        encoded["names"] == encoded["ids"] == encoded["class labels"]
    ), "tag names, tag ids and a ClassLabel feature give different labels"


def resolved_labels(trains: dict, column: str, checks: list) -> list:
    """Runs in the project's process: data.resolve_labels on train splits (rows, and
    features or None) with or without labels; the labels found, or the error's type."""
    from datasets import Dataset, Features

    import data

    datasets = {
        kind: Dataset.from_list(rows, features=Features.from_dict(f) if f else None)
        for kind, (rows, f) in trains.items()
    }
    results = []
    for kind, labels in checks:
        try:
            found = data.resolve_labels(datasets[kind], column, labels)
        except Exception as exc:
            results.append(type(exc).__name__)
        else:
            results.append(list(found))
    return results


def test_resolve_labels_checks_the_data(sentences: dict[str, list]) -> None:
    trains = {}
    for kind, args in (
        ("names", (False,)),
        ("ids", (True,)),
        ("class labels", (False, True)),
    ):
        splits, features = _splits(sentences, *args)
        trains[kind] = [splits["train"], features]
    checks = [
        ("names", None),
        ("names", [OUTSIDE, "B-NOPE"]),  # a tag in the data that the labels lack
        ("ids", None),  # ids without names
        ("class labels", None),
        (
            "class labels",
            list(reversed(TAG_NAMES)),
        ),  # names that are not the ClassLabel's
    ]
    found, lacking, nameless, class_labels, reordered = harness.run(
        resolved_labels, trains, TAGS_COLUMN, checks
    )
    assert sorted(found) == sorted({t for _, tags in sentences["train"] for t in tags})
    assert lacking == "ValueError", f"labels that lack a tag of the data gave {lacking}"
    assert nameless == "ValueError", f"tag ids without names gave {nameless}"
    assert class_labels == TAG_NAMES
    assert (
        reordered == "ValueError"
    ), f"names that are not the ClassLabel's gave {reordered}"


# --- train.py: what a training run leaves ---------------------------------------------


def test_train_writes_eval_results(trained: Path) -> None:
    path = trained / "eval_results.json"
    assert path.is_file(), "train.py wrote no eval_results.json in --output_dir"
    results = json.loads(path.read_text(encoding="utf-8"))
    for key in {METRIC, *METRICS}:
        assert key in results, f"no {key} in {results}"
        assert 0.0 <= results[key] <= 1.0, results


def test_saved_labels_are_the_datas_tag_names(trained: Path, sentences: dict) -> None:
    labels = saved_labels(trained)
    if LABELS:
        assert labels == TAG_NAMES, f"id2label {labels}, expected {TAG_NAMES}"
    else:
        found = {tag for _, tags in sentences["train"] for tag in tags}
        assert set(labels) == found, f"id2label {labels}, the data's tags {found}"


def saved_tokenizer_pieces(model_dir: str, words: list[str]) -> list:
    """Runs in the project's process: the saved tokenizer's pieces of the words pre-split
    and as running text, and how many pieces the first word has."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    split = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    running = tokenizer(" ".join(words), add_special_tokens=False)
    return [split.tokens(), running.tokens(), split.word_ids().count(0)]


def test_saved_tokenizer_reads_words_as_in_running_text(trained: Path) -> None:
    """Pre-split words get the pieces they get in a sentence (a byte-level BPE needs
    add_prefix_space for that; without it every word is encoded as a text's first)."""
    words = ["they", "met", "Alice", "Smith", "in", "Berlin", "today"]
    pieces, running, first = harness.run(saved_tokenizer_pieces, str(trained), words)
    # The first word may differ (a leading space, or none); the others must not.
    assert (
        pieces[first:] == running[-(len(pieces) - first) :]
    ), f"pre-split words {pieces} vs running text {running}"


def test_the_model_learns(
    trained: Path, sentences: dict, record_property: Callable[[str, object], None]
) -> None:
    """The judge scores predict()'s tags itself: entity F1 on the validation sentences."""
    validation = sentences["validation"]
    results = predict.predict(
        [words for words, _ in validation], str(trained), max_length=MAX_LENGTH
    )
    assert len(results) == len(validation)
    true = [tags for _, tags in validation]
    pred = [r["tags"] for r in results]
    assert [len(t) for t in pred] == [len(t) for t in true], "not one tag per word"
    f1 = judge_f1(true, pred)
    print(f"entity F1 of the trained twin on the validation sentences: {f1:.3f}")
    record_property("judged", {"metric": "eval_f1", "value": f1, "at_least": MIN_F1})
    assert f1 >= MIN_F1, (
        f"entity F1 {f1:.3f} on the validation sentences, expected >= {MIN_F1} after "
        "training on the same kind of sentences"
    )
    reported = json.loads((trained / "eval_results.json").read_text())["eval_f1"]
    assert (
        reported >= MIN_F1 / 2
    ), f"eval_results.json says eval_f1 {reported:.3f}; the judge measures {f1:.3f}"


def test_resume_from_checkpoint(
    trained: Path, train_argv: list[str], tmp_path: Path
) -> None:
    """--resume_from_checkpoint last goes on from the newest checkpoint in output_dir
    (the judge's run saved one at its last step, so nothing is left to train)."""
    checkpoints = sorted(trained.glob("checkpoint-*"))
    assert checkpoints, "no checkpoint-* in output_dir (--save_strategy steps)"
    output_dir = shutil.copytree(trained, tmp_path / "outputs")
    train.main(
        [
            *train_argv,
            "--output_dir",
            str(output_dir),
            "--resume_from_checkpoint",
            "last",
        ]
    )
    state = json.loads((output_dir / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["global_step"] == TRAIN_STEPS, state["global_step"]


# --- predict.py ----------------------------------------------------------------------------


def check_prediction(prediction: dict, words: list[str]) -> None:
    assert prediction["tokens"] == words, prediction
    assert len(prediction["tags"]) == len(words), prediction
    assert set(prediction["tags"]) <= set(TAG_NAMES), prediction["tags"]
    spans = {(e["type"], e["start"], e["end"] - 1) for e in prediction["entities"]}
    assert spans == judge_entities(
        prediction["tags"]
    ), f"entities {prediction['entities']} are not the spans of {prediction['tags']}"
    for entity in prediction["entities"]:
        assert entity["type"] in TYPES, entity
        assert entity["text"] == " ".join(words[entity["start"] : entity["end"]])
        assert 0.0 <= entity["score"] <= 1.0, entity


def test_predict_function(trained: Path, sentences: dict) -> None:
    texts = [" ".join(words) for words, _ in sentences["validation"][:3]]
    words = [words for words, _ in sentences["validation"][3:5]]
    predictions = predict.predict(
        [*texts, *words, ""], str(trained), max_length=MAX_LENGTH
    )
    assert len(predictions) == 6
    for text, prediction in zip(texts, predictions):
        assert prediction["text"] == text
        check_prediction(prediction, text.split())
    for sentence, prediction in zip(words, predictions[3:]):
        check_prediction(prediction, sentence)
    assert predictions[-1]["tags"] == [] and predictions[-1]["entities"] == []
    assert any(p["entities"] for p in predictions), "no entity found at all"


def test_predict_tags_every_word_of_a_long_input(
    trained: Path, sentences: dict
) -> None:
    words = [w for sentence, _ in sentences["validation"][:8] for w in sentence]
    assert len(words) > MAX_LENGTH
    (prediction,) = predict.predict([words], str(trained), max_length=MAX_LENGTH)
    check_prediction(prediction, words)


def test_predict_cli_texts(trained: Path) -> None:
    texts = ["they met Alice Smith in Berlin", "Acme Corp reported news"]
    argv = ["--model_dir", str(trained), "--max_length", str(MAX_LENGTH)]
    for text in texts:
        argv += ["--text", text]
    predictions = json_lines(harness.output("predict.main", argv))
    assert [p["text"] for p in predictions] == texts, predictions
    for text, prediction in zip(texts, predictions):
        check_prediction(prediction, text.split())


@pytest.mark.parametrize("suffix", [".jsonl", ".txt"])
def test_predict_cli_input_file(
    trained: Path, tmp_path: Path, sentences: dict, suffix: str
) -> None:
    sentences = [words for words, _ in sentences["validation"][:4]]
    input_file = tmp_path / f"inputs{suffix}"
    if suffix == ".jsonl":
        write_jsonl(input_file, [{TOKENS_COLUMN: words} for words in sentences])
    else:
        input_file.write_text("\n".join(" ".join(w) for w in sentences) + "\n")
    output_file = tmp_path / "predictions.jsonl"
    predict.main(
        ["--model_dir", str(trained), "--input_file", str(input_file),
         "--output_file", str(output_file), "--max_length", str(MAX_LENGTH)]
    )  # fmt: skip
    assert output_file.is_file(), "predict.py wrote no --output_file"
    predictions = json_lines(output_file.read_text(encoding="utf-8"))
    assert len(predictions) == len(sentences), predictions
    for words, prediction in zip(sentences, predictions):
        check_prediction(prediction, words)
