"""The spec's serve: serve.py rendered only when asked for, by the tasks with a predict(),
and proven by the judge on the twin: started as a process of its own in the sandbox, it
answers on loopback what predict.py's predict() answers, one request at a time and
several sharing batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen.errors import UserError

from .conftest import (
    plan_with,
    assert_new_refuses,
    assert_validate_catches,
    assert_validate_passes,
    generate_reference,
)

SERVE_FILES = {"serve.py", ".scriptgen/judge/test_serve.py"}
JUDGE = "test_the_service_answers_what_predict_answers"


@pytest.mark.parametrize(
    ("task", "model", "asked"),
    [("tokclf", "bert-base", True), ("imgclf", "vit-base", True),
     ("seq2seq", "t5-small", True), ("textclf", "bert-base", False)],
)  # fmt: skip
def test_only_a_spec_that_asks_renders_serve_py(
    tmp_path: Path, task: str, model: str, asked: bool
) -> None:
    plan = plan_with(tmp_path, task, f"serve={str(asked).lower()}", model=model)
    assert plan.spec.serve is asked and ("serve" in plan.canonical_spec) is asked
    assert (SERVE_FILES <= {f.path for f in plan.manifest.files}) is asked


def test_clm_is_pointed_at_a_generation_engine(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="vllm serve outputs"):
        plan_with(tmp_path, "clm", "serve=true", model="gpt2")
    said = assert_new_refuses(tmp_path, "clm", "gpt2", "serve=true")
    assert "llama.cpp's llama-server" in said


@pytest.fixture(scope="module")
def serve_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_reference(tmp_path_factory.mktemp("serve"), "textclf", "serve=true")


@pytest.mark.slow
def test_the_judge_asks_the_service(serve_project: Path, tmp_path: Path) -> None:
    assert_validate_passes(serve_project, tmp_path, JUDGE)


@pytest.mark.slow
def test_the_judge_asks_an_image_service(tmp_path: Path) -> None:
    """Images arrive as base64 files, which the pipeline does not open from bytes."""
    project = generate_reference(tmp_path, "imgclf", "serve=true", model="vit-base")
    assert_validate_passes(project, tmp_path, JUDGE)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("good", "bad", "caught"),
    [
        # Every request waiting gets the first outputs of the shared batch.
        ("                done.set_result(outputs[: len(inputs)])\n"
         "                outputs = outputs[len(inputs) :]\n",
         "                done.set_result(outputs[: len(inputs)])\n", JUDGE),
        # predict.py's settings (config.yaml's max_length) not passed on: the service
        # truncates otherwise than predict.py.
        ("**{k: v for k, v in vars(settings).items() if k in names}",
         "batch_size=settings.batch_size, max_length=2", JUDGE),
        # A malformed request answered as a server error.
        ("        except ValueError as error:  # JSON's errors too\n"
         "            return self.reply(HTTPStatus.BAD_REQUEST,",
         "        except ValueError as error:  # JSON's errors too\n"
         "            return self.reply(HTTPStatus.INTERNAL_SERVER_ERROR,", JUDGE),
        # One request predict() refuses fails every request of its batch.
        ("                for inputs, done in requests:  # each on its own: only a bad one fails\n"
         "                    try:\n"
         "                        done.set_result(self.run(inputs))\n"
         "                    except Exception as error:\n"
         "                        done.set_exception(error)\n",
         "                for inputs, done in requests:\n"
         "                    done.set_exception(ValueError(\"the batch failed\"))\n",
         "test_a_bad_request_fails_alone"),
        # A Content-Length that is no number read as one: the handler dies unanswered.
        ('        if not size.isdigit():\n',
         '        if not size.lstrip("-").isalnum():\n', JUDGE),
    ],
    ids=["requests-get-others-outputs", "settings-ignored", "bad-request-is-500",
         "one-bad-request-fails-its-batch", "bad-content-length-unanswered"],
)  # fmt: skip
def test_the_judge_fails_a_broken_service(
    serve_project: Path, tmp_path: Path, good: str, bad: str, caught: str
) -> None:
    assert_validate_catches(serve_project, tmp_path, ("serve.py", good, bad, [caught]))
