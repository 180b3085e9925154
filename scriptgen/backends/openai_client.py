"""The client for OpenAI-compatible chat servers (vLLM, TGI, llama.cpp, Ollama), over the
``openai`` package.

The package sends the requests and retries what another request may fix before a reply
starts (connection errors, timeouts, 408, 409, 429 and 5xx, with exponential backoff and
the server's ``Retry-After`` up to two minutes). This module adds what it does not do:

- a stream that breaks, garbles or stops without a finish reason is asked again, within
  the same budget of attempts;
- each attempt has a deadline for the whole reply, not only between two bytes;
- a server that refuses ``stream_options`` is asked again without it;
- a server that ignores ``stream`` and answers one JSON body is read as such;
- the model's context window is read from what ``/models`` lists beside each id;
- every failure ends as one ``BackendError`` line that names the URL and the cause.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai

from .deadline import DeadlineTransport
from . import openai_errors as wording
from .openai_errors import BackendError, Unreachable
from .openai_reply import Broken, Reply, apply_chunk, model_id, parse_completion

# Cap on one backoff sleep after a broken stream (the package's own cap for its retries).
MAX_DELAY = 8.0


@dataclass(frozen=True)
class ChatResult:
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float  # wall time of the whole call, retries included
    finish_reason: str | None


class OpenAIClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        retries: int = 3,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        try:
            parsed = urlsplit(self.base_url)
            host = parsed.hostname
        except ValueError as exc:
            raise BackendError(
                f"openai backend: bad base URL {base_url!r} ({exc})"
            ) from None
        if parsed.scheme not in ("http", "https") or not host:
            raise BackendError(
                f"openai backend: bad base URL {base_url!r}; "
                "expected something like http://127.0.0.1:8000/v1"
            )
        if api_key is None:
            api_key = (
                os.environ.get("SCRIPTGEN_API_KEY")
                or os.environ.get("OPENAI_API_KEY")
                or None
            )
        self._api_key = api_key or None  # local servers need none; "" means none
        # Without a key no Authorization header at all (the package insists on a key).
        self._headers = {} if self._api_key else {"Authorization": openai.Omit()}
        self.model = model
        self._entries: list[dict[str, Any]] | None = None  # GET /models, once
        # Which tokenize body the server takes (an index), False: none; None: not tried.
        self._tokenize: int | bool | None = None
        self._plain_headers = (
            {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        )
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = max(0, retries)
        self._sent = 0  # requests sent, retries included: the "attempts" of a message
        self._lock = threading.Lock()
        # The end of the chat() under way, if it has one, and its length in seconds.
        self._call_limit = (math.inf, math.inf)
        self._http = openai.DefaultHttpxClient(
            transport=DeadlineTransport(httpx2.HTTPTransport(), self._deadline),
            event_hooks={"request": [self._count]},
        )
        self._sdk = openai.OpenAI(
            base_url=self.base_url,
            api_key=self._api_key or "none",
            max_retries=self.retries,
            timeout=openai.Timeout(timeout, connect=connect_timeout),
            http_client=self._http,
        )

    def _deadline(self) -> tuple[float, float]:
        """When a request sent now must have its whole reply, and the limit that sets it
        (the attempt's timeout, or the call's seconds), in seconds."""
        return min((time.monotonic() + self.timeout, self.timeout), self._call_limit)

    def _count(self, _request: object) -> None:
        with self._lock:
            self._sent += 1

    def close(self) -> None:
        self._sdk.close()

    def __enter__(self) -> OpenAIClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Public API.

    def list_models(self) -> list[str]:
        """The model ids that ``GET {base}/models`` lists, in the server's order."""
        return [model_id(entry) for entry in self._model_entries()]

    def _model_entries(self) -> list[dict[str, Any]]:
        if self._entries is None:
            url = f"{self.base_url}/models"
            sent = self._sent
            try:
                page = self._sdk.models.list(extra_headers=self._headers)
                entries = [entry.to_dict() for entry in page.data]
            except openai.APIStatusError as exc:
                raise self._error("GET", url, exc, sent) from None
            except openai.OpenAIError as exc:
                raise self._error("GET", url, exc, sent) from None
            except ValueError as exc:  # a body that is not the JSON it claims to be
                raise BackendError(
                    f"openai backend: GET {url} gave a malformed model list ({exc})"
                ) from None
            self._entries = [e for e in entries if model_id(e)]
        return self._entries

    def context_window(self) -> int | None:
        """The model's context in tokens, where ``/models`` says it: vLLM's
        ``max_model_len``, llama.cpp's ``meta.n_ctx_train``, others' ``context_length``.
        """
        model = self.resolve_model()
        for entry in self._model_entries():
            if model_id(entry) != model:
                continue
            meta = entry.get("meta")
            meta = meta if isinstance(meta, dict) else {}
            for value in (
                entry.get("max_model_len"),
                entry.get("context_length"),
                entry.get("context_window"),
                meta.get("n_ctx_train"),
            ):
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
        return None

    def server_context(self) -> int | None:
        """The context the server runs with, where it says (llama.cpp's ``/props``: its
        ``-c``, which may be less than ``/models``' trained context)."""
        data = self._get_root("props")
        settings = data.get("default_generation_settings") if data else None
        for value in (
            data.get("n_ctx") if data else None,
            settings.get("n_ctx") if isinstance(settings, dict) else None,
        ):
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return None

    def count_tokens(self, text: str) -> int | None:
        """Tokens ``text`` takes in the model's own tokenizer, where the server has a
        tokenize endpoint (llama.cpp: ``{"content"}``; vLLM: ``{"model", "prompt"}``).
        """
        if self._tokenize is False:
            return None
        bodies = [{"content": text}, {"model": self.resolve_model(), "prompt": text}]
        for body in bodies if self._tokenize is None else [bodies[self._tokenize]]:
            data = self._post_root("tokenize", body)
            if data is None:
                continue
            count = data.get("count")
            tokens = data.get("tokens")
            if isinstance(tokens, list) or isinstance(count, int):
                self._tokenize = bodies.index(body)
                return count if isinstance(count, int) else len(tokens)
        self._tokenize = False
        return None

    def _root(self, path: str) -> str:
        base = self.base_url
        return (base[: -len("/v1")] if base.endswith("/v1") else base) + "/" + path

    def _get_root(self, path: str) -> dict[str, Any] | None:
        try:
            response = self._http.get(self._root(path), headers=self._plain_headers,
                                      timeout=self.connect_timeout)  # fmt: skip
            data = response.json() if response.status_code == 200 else None
        except (httpx2.HTTPError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _post_root(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            response = self._http.post(self._root(path), json=body,
                                       headers=self._plain_headers, timeout=60.0)  # fmt: skip
            data = response.json() if response.status_code == 200 else None
        except (httpx2.HTTPError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def resolve_model(self) -> str:
        """The configured model, else the first one the server lists."""
        if self.model:
            return self.model
        models = self.list_models()
        if not models:
            raise BackendError(
                f"openai backend: {self.base_url}/models lists no models; "
                "name one with --llm-model"
            )
        self.model = models[0]
        return self.model

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.0,
        seed: int | None = 0,
        max_tokens: int | None = None,
        on_token: Callable[[str], None] | None = None,
        seconds: float | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ChatResult:
        """Send ``messages``; stream the reply through ``on_token`` and return it whole,
        all attempts within ``seconds`` when given.

        A retried attempt restarts the generation, so ``on_token`` may see the start of
        a reply again after a stream broke.
        """
        start = time.monotonic()
        model = self.resolve_model()
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if seed is not None:
            body["seed"] = seed
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if response_format is not None:
            body["response_format"] = response_format
        if seconds is not None:
            self._call_limit = (start + seconds, seconds)
        try:
            reply = self._send(body, on_token)
        finally:
            self._call_limit = (math.inf, math.inf)
        return ChatResult(
            text="".join(reply.parts),
            model=reply.model or model,
            prompt_tokens=wording.int_or_none(reply.usage.get("prompt_tokens")),
            completion_tokens=wording.int_or_none(reply.usage.get("completion_tokens")),
            seconds=time.monotonic() - start,
            finish_reason=reply.finish_reason,
        )

    def _send(
        self, body: dict[str, Any], on_token: Callable[[str], None] | None
    ) -> Reply:
        """The reply to ``body``, asked again while another attempt may fix it."""
        url = f"{self.base_url}/chat/completions"
        sent = self._sent
        while True:
            left = self.retries + 1 - (self._sent - sent)  # requests still allowed
            try:
                return self._attempt(body, left, on_token)
            except Broken as exc:
                attempts = self._sent - sent
                if attempts > self.retries or time.monotonic() >= self._call_limit[0]:
                    raise BackendError(
                        f"openai backend: POST {url} failed after {wording.times(attempts)} "
                        f"({exc.cause}); check the server's log"
                    ) from None
                time.sleep(min(0.5 * 2 ** (attempts - 1), MAX_DELAY))
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if "stream_options" in body and "stream_options" in wording.detail(exc):
                    del body["stream_options"]  # an older server: ask without it
                    continue
                if "response_format" in body and "response_format" in wording.detail(
                    exc
                ):
                    # A server that cannot constrain the reply: it is parsed and checked.
                    del body["response_format"]
                    continue
                raise self._error("POST", url, exc, sent) from None
            except openai.APIStatusError as exc:
                raise self._error("POST", url, exc, sent) from None
            except openai.OpenAIError as exc:
                raise self._error("POST", url, exc, sent) from None

    # One request, and its reply.

    def _attempt(
        self,
        body: dict[str, Any],
        left: int,
        on_token: Callable[[str], None] | None,
    ) -> Reply:
        sdk = self._sdk.with_options(max_retries=max(0, left - 1))
        raw = sdk.chat.completions.with_raw_response.create(
            **body, extra_headers=self._headers
        )
        if "text/event-stream" not in raw.headers.get("content-type", ""):
            # A server that ignores "stream" answers one JSON body.
            try:
                body_bytes = raw.http_response.read()
            except httpx2.TransportError as exc:
                raise Broken(wording.transport_cause(exc, self.timeout)) from None
            reply = parse_completion(body_bytes)
            if on_token is not None and reply.parts[0]:
                on_token(reply.parts[0])
            return reply
        reply = Reply()
        stream = raw.parse()
        try:
            for chunk in stream:
                piece = apply_chunk(reply, chunk.to_dict())
                if piece:
                    reply.parts.append(piece)
                    if on_token is not None:
                        on_token(piece)
        except json.JSONDecodeError as exc:
            raise Broken(
                f"malformed JSON in stream: {wording.snippet(exc.doc)}"
            ) from None
        except openai.APIConnectionError as exc:  # timeouts included
            raise Broken(wording.transport_cause(exc.__cause__, self.timeout)) from None
        except openai.APIError as exc:  # an error event in the stream
            raise Broken(
                f"server error in stream: {wording.snippet(exc.message)}"
            ) from None
        finally:
            stream.close()
        if reply.finish_reason is None:
            # Every server ends a whole reply with a finish reason: this one was cut.
            raise Broken("stream ended before a finish_reason")
        return reply

    def _error(
        self, method: str, url: str, exc: openai.OpenAIError, sent: int
    ) -> BackendError:
        """A failed request as one line (``sent``: the request count before it)."""
        attempts = self._sent - sent
        if isinstance(exc, openai.APIStatusError):
            return wording.status_error(
                method, url, exc, attempts, bool(self._api_key), self.base_url
            )
        return wording.failure(
            method, url, exc, attempts, self.connect_timeout, self.timeout
        )
