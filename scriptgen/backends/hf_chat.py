"""The ``hf:`` backend's chat function: a causal LM run in-process with transformers.

torch and transformers are imported on first use, and the model is loaded on the first
request, so that building the backend (and ``--help``) stays instant.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import MissingDependency, ScriptgenError
from .llm import REPLY_TOKENS, REQUEST_SECONDS, Messages, OnToken, Reply


class HFChat:
    """A ``Chat`` (call it with messages and decoding) plus ``generate_batch``."""

    def __init__(self, model_ref: str, **options: Any) -> None:
        self.model_ref = model_ref
        self.options = options
        self._model: Any = None
        self._tokenizer: Any = None

    def __call__(
        self,
        messages: Messages,
        decoding: Mapping[str, Any],
        *,
        on_token: OnToken | None = None,
        seconds: float = REQUEST_SECONDS,
    ) -> Reply:
        return self.generate_batch(
            [messages], decoding, on_token=on_token, seconds=seconds
        )[0]

    def generate_batch(
        self,
        conversations: Sequence[Messages],
        decoding: Mapping[str, Any],
        *,
        on_token: OnToken | None = None,
        seconds: float = REQUEST_SECONDS,
    ) -> list[Reply]:
        """One reply per conversation; independent prompts share one ``generate``."""
        import torch

        model, tokenizer = self.load()
        # Left padding: every prompt ends where generation starts.
        tokenizer.padding_side = "left"
        inputs = tokenizer.apply_chat_template(
            list(conversations),
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
            padding=True,
        ).to(model.device)
        prompt_len = inputs["input_ids"].shape[1]
        with torch.inference_mode():
            streamer = _TokenCounter(on_token) if on_token else None
            output = model.generate(
                **inputs,
                **self._generate_kwargs(decoding),
                max_time=seconds,  # ends the request, finished or not
                streamer=streamer,
            )
        eos = _eos_ids(model, tokenizer)
        replies = []
        for row, mask in zip(output, inputs["attention_mask"]):
            generated = row[prompt_len:].tolist()
            n = _completion_length(generated, eos)
            replies.append(
                Reply(
                    tokenizer.decode(generated[:n], skip_special_tokens=True),
                    model=self.model_ref,
                    prompt_tokens=int(mask.sum()),
                    completion_tokens=n,
                )
            )
        return replies

    def measure(self, messages: Messages) -> tuple[int, int | None, bool]:
        """The prompt's tokens under the model's chat template, and its context window
        (the config's max_position_embeddings)."""
        model, tokenizer = self.load()
        context = getattr(model.config, "max_position_embeddings", None)
        context = context if isinstance(context, int) else None
        if not messages:
            return 0, context, True
        ids = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        return len(ids), context, True

    def load(self) -> tuple[Any, Any]:
        """The model and tokenizer, loaded once."""
        if self._model is None:
            self._model, self._tokenizer = _load(self.model_ref)
        return self._model, self._tokenizer

    def _generate_kwargs(self, decoding: Mapping[str, Any]) -> dict[str, Any]:
        import torch

        max_new = decoding.get("max_new_tokens") or decoding.get("max_tokens")
        kwargs: dict[str, Any] = {
            "max_new_tokens": int(max_new or REPLY_TOKENS),
            "pad_token_id": self._tokenizer.pad_token_id,
        }
        temperature = float(decoding.get("temperature") or 0.0)
        if temperature > 0:
            if decoding.get("seed") is not None:
                torch.manual_seed(int(decoding["seed"]))
            kwargs.update(do_sample=True, temperature=temperature)
        else:
            # Greedy; unset the sampling knobs a checkpoint's generation_config may carry.
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs


def hf_chat(model_ref: str, **options: Any) -> HFChat:
    """A chat function over a hub id, a local folder or a ``.gguf`` file."""
    return HFChat(model_ref, **options)


def _load(model_ref: str) -> tuple[Any, Any]:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingDependency(
            f"the hf backend needs torch and transformers ({exc.name} is missing): "
            "pip install 'scriptgen[ml]'"
        ) from None

    source, extra = model_ref, {}
    if model_ref.endswith(".gguf"):
        path = Path(model_ref)
        if not path.is_file():
            raise ScriptgenError(f"hf: no such GGUF file: {model_ref}")
        source, extra = str(path.parent), {"gguf_file": path.name}
    if torch.cuda.is_available():
        placement: dict[str, Any] = {"dtype": torch.bfloat16, "device_map": "auto"}
    else:
        placement = {"dtype": torch.float32}
    with gguf_read_once() if extra else contextlib.nullcontext():
        tokenizer = _from_pretrained(AutoTokenizer, model_ref, source, extra)
        # Checked before the (slow) model load: a base model cannot hold a conversation.
        if not getattr(tokenizer, "chat_template", None):
            raise ScriptgenError(
                f"hf: the tokenizer of {model_ref} has no chat template; use an instruct/chat model"
            )
        model = _from_pretrained(
            AutoModelForCausalLM, model_ref, source, {**extra, **placement}
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


_GGUF_LOAD = threading.Lock()


@contextlib.contextmanager
def gguf_read_once() -> Iterator[None]:
    """Within it, each GGUF file's header is parsed once. transformers parses it whole for
    the tokenizer, again for the config and again for the weights (6 s each for
    SmolLM2-135M's, on 2 cores), and builds gguf's tensor name map once per module: both
    cached for the load, then dropped. Can go when transformers reads a file once per load.
    """
    try:
        import gguf
    except ImportError:  # from_pretrained says what is missing
        yield
        return
    with _GGUF_LOAD:  # one load at a time: each restores what it found
        reader, names = gguf.GGUFReader, gguf.get_tensor_name_map
        gguf.GGUFReader = functools.cache(reader)
        gguf.get_tensor_name_map = functools.cache(names)
        try:
            yield
        finally:
            gguf.GGUFReader, gguf.get_tensor_name_map = reader, names


def _from_pretrained(
    cls: Any, model_ref: str, source: str, kwargs: Mapping[str, Any]
) -> Any:
    try:
        return cls.from_pretrained(source, **kwargs)
    except ImportError as exc:  # e.g. the gguf package for a .gguf file
        raise MissingDependency(
            f"hf: loading {model_ref} needs {exc.name or 'a missing package'}: "
            f"{_first_line(exc)}"
        ) from None
    except (OSError, ValueError) as exc:  # no such folder, hub offline, bad config
        raise ScriptgenError(
            f"hf: cannot load model {model_ref}: {_first_line(exc)}"
        ) from None


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = model.generation_config.eos_token_id
    eos = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        eos.add(tokenizer.eos_token_id)
    return eos


def _completion_length(generated: list[int], eos: set[int]) -> int:
    """Tokens up to and including the first end-of-sequence (what follows is padding)."""
    for i, token in enumerate(generated):
        if token in eos:
            return i + 1
    return len(generated)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _TokenCounter:
    """A transformers streamer (``put``/``end``) that only counts: drives the progress."""

    def __init__(self, on_token: OnToken) -> None:
        self.on_token = on_token
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() first puts the prompt itself
            self.prompt_seen = True
            return
        self.on_token(1)

    def end(self) -> None:
        pass
