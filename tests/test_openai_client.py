"""The openai: backend's client against a real scripted HTTP server on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scriptgen.backends.openai_client import BackendError, ChatResult, OpenAIClient
from tests.openai_server import ScriptedServer

MESSAGES = [
    {"role": "system", "content": "You write Python."},
    {"role": "user", "content": "Say hello."},
]
MakeClient = Callable[..., OpenAIClient]
CODE = "```python\nprint('hello, world')\n```\n"


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SCRIPTGEN_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(models=["coder-7b", "other"]) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[MakeClient]:
    """Make clients with a test-sized timeout; close them afterwards."""
    made: list[OpenAIClient] = []

    def make(url: str, **options: Any) -> OpenAIClient:
        made.append(OpenAIClient(url, **{"timeout": 5.0, **options}))
        return made[-1]

    yield make
    for c in made:
        c.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_streamed_reply_is_reassembled(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, client: MakeClient
) -> None:
    monkeypatch.setenv("SCRIPTGEN_API_KEY", "sk-test")
    usage = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
    server.reply(CODE, usage=usage)
    tokens: list[str] = []

    result = client(server.url).chat(MESSAGES, seed=7, on_token=tokens.append)

    assert isinstance(result, ChatResult)
    assert result.text == CODE
    assert len(tokens) > 3 and "".join(tokens) == CODE
    assert (result.prompt_tokens, result.completion_tokens) == (12, 9)
    assert result.model == "coder-7b"
    assert result.finish_reason == "stop"
    assert result.seconds >= 0
    [models, chat] = server.requests
    assert models.path == "/v1/models"
    assert chat.path == "/v1/chat/completions"
    assert chat.headers["authorization"] == "Bearer sk-test"
    body = chat.body
    assert body["model"] == "coder-7b"
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0
    assert body["seed"] == 7
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert "max_tokens" not in body


def test_no_authorization_without_a_key(
    server: ScriptedServer, client: MakeClient
) -> None:
    server.reply("ok")
    client(server.url, model="m").chat(MESSAGES, max_tokens=64)
    [chat] = server.requests
    assert "authorization" not in chat.headers
    assert chat.body["max_tokens"] == 64
    assert chat.body["model"] == "m"


def test_openai_api_key_is_the_fallback(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, client: MakeClient
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    server.reply("ok")
    client(server.url, model="m").chat(MESSAGES)
    assert server.requests[0].headers["authorization"] == "Bearer sk-openai"


def test_non_streamed_json_reply(server: ScriptedServer, client: MakeClient) -> None:
    server.reply(CODE, stream=False, usage={"prompt_tokens": 5, "completion_tokens": 3})
    tokens: list[str] = []
    result = client(server.url, model="m").chat(MESSAGES, on_token=tokens.append)
    assert result.text == CODE
    assert tokens == [CODE]
    assert (result.prompt_tokens, result.completion_tokens) == (5, 3)
    assert result.finish_reason == "stop"


def test_stream_without_usage_leaves_counts_unknown(
    server: ScriptedServer, client: MakeClient
) -> None:
    server.reply("abc", usage=None)
    result = client(server.url, model="m").chat(MESSAGES)
    assert result.text == "abc"
    assert result.prompt_tokens is None and result.completion_tokens is None


def test_resolve_model(server: ScriptedServer, client: MakeClient) -> None:
    assert client(server.url).list_models() == ["coder-7b", "other"]
    assert client(server.url).resolve_model() == "coder-7b"
    assert client(server.url, model="other").resolve_model() == "other"
    server.models = []
    with pytest.raises(BackendError, match="lists no models.*--llm-model"):
        client(server.url).resolve_model()


def test_5xx_is_retried(server: ScriptedServer, client: MakeClient) -> None:
    server.status(500).status(503).reply("done")
    result = client(server.url, model="m").chat(MESSAGES)
    assert result.text == "done"
    assert len(server.chat_requests) == 3


def test_429_honours_retry_after(server: ScriptedServer, client: MakeClient) -> None:
    server.status(429, retry_after=2).reply("done")
    started = time.monotonic()
    result = client(server.url, model="m").chat(MESSAGES)
    assert result.text == "done"
    assert len(server.chat_requests) == 2
    # The first backoff would be half a second: the server's 2 s was waited for.
    assert 1.9 < time.monotonic() - started < 5


def test_long_retry_after_stops_at_once(
    server: ScriptedServer, client: MakeClient
) -> None:
    server.status(429, retry_after=3600)
    with pytest.raises(BackendError, match="asks to wait 3600s"):
        client(server.url, model="m").chat(MESSAGES)
    assert len(server.chat_requests) == 1


def test_always_500_gives_up_with_one_line(
    server: ScriptedServer, client: MakeClient
) -> None:
    server.status(500, message="CUDA out of memory\nTraceback ...")
    with pytest.raises(BackendError) as info:
        client(server.url, model="m", retries=3).chat(MESSAGES)
    message = str(info.value)
    assert "\n" not in message
    assert f"{server.url}/chat/completions" in message
    assert "after 4 attempts" in message
    assert "HTTP 500: CUDA out of memory" in message
    assert len(server.chat_requests) == 4


def test_hang_times_out(server: ScriptedServer, client: MakeClient) -> None:
    server.hang(30)
    started = time.monotonic()
    with pytest.raises(BackendError, match="no data for 1s"):
        client(server.url, model="m", timeout=1, retries=1).chat(MESSAGES)
    assert time.monotonic() - started < 5
    assert len(server.chat_requests) == 2


def test_trickling_server_hits_the_attempt_deadline(
    server: ScriptedServer, client: MakeClient
) -> None:
    server.trickle("partial", interval=0.1, seconds=20)
    started = time.monotonic()
    with pytest.raises(BackendError, match="not finished within 1s"):
        client(server.url, model="m", timeout=1, retries=0).chat(MESSAGES)
    assert time.monotonic() - started < 4


def test_broken_stream_is_retried(server: ScriptedServer, client: MakeClient) -> None:
    server.broken_stream("print('hal").reply(CODE)
    tokens: list[str] = []
    result = client(server.url, model="m").chat(MESSAGES, on_token=tokens.append)
    assert result.text == CODE
    assert len(server.chat_requests) == 2


def test_always_broken_stream_fails(server: ScriptedServer, client: MakeClient) -> None:
    server.broken_stream("print('hal")
    with pytest.raises(BackendError, match="after 3 attempts"):
        client(server.url, model="m", retries=2).chat(MESSAGES)


def test_malformed_chunk_is_retried(server: ScriptedServer, client: MakeClient) -> None:
    server.malformed().reply("fine")
    result = client(server.url, model="m").chat(MESSAGES)
    assert result.text == "fine"
    assert len(server.chat_requests) == 2


def test_always_malformed_fails(server: ScriptedServer, client: MakeClient) -> None:
    server.malformed()
    with pytest.raises(BackendError, match=r"malformed JSON in stream.*not json"):
        client(server.url, model="m", retries=2).chat(MESSAGES)
    assert len(server.chat_requests) == 3


def test_nothing_listening(client: MakeClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        client(url, model="m", retries=2).chat(MESSAGES)
    message = str(info.value)
    assert message.startswith(
        f"openai backend: cannot reach {url}/chat/completions after 3 attempts "
        "(connection refused)"
    )
    assert time.monotonic() - started < 3  # backoff 0.5 s, then 1 s


def test_401_is_not_retried(server: ScriptedServer, client: MakeClient) -> None:
    server.status(401)
    with pytest.raises(BackendError, match="unauthorized.*SCRIPTGEN_API_KEY"):
        client(server.url, model="m").chat(MESSAGES)
    assert len(server.chat_requests) == 1


def test_404_suggests_v1(server: ScriptedServer, client: MakeClient) -> None:
    base = server.url.removesuffix("/v1")
    with pytest.raises(BackendError, match="should end with /v1|usually ends with /v1"):
        client(base, model="m").chat(MESSAGES)
    assert len(server.requests) == 1


def test_stream_options_rejected_by_an_old_server(
    server: ScriptedServer, client: MakeClient
) -> None:
    server.status(400, message="stream_options: extra fields not permitted").reply("ok")
    result = client(server.url, model="m").chat(MESSAGES)
    assert result.text == "ok"
    first, second = server.chat_requests
    assert "stream_options" in first.body
    assert "stream_options" not in second.body


def test_bad_base_url() -> None:
    with pytest.raises(BackendError, match="bad base URL"):
        OpenAIClient("localhost:8000")


def test_a_call_ends_within_its_seconds_whatever_the_retries(
    server: ScriptedServer, client: MakeClient
) -> None:
    """The run's budget: all attempts of one call end by ``seconds``, though each
    attempt alone may take ``timeout`` and three more are allowed."""
    server.trickle("partial", interval=0.1, seconds=20)
    started = time.monotonic()
    with pytest.raises(
        BackendError, match=r"after 1 attempt \(reply not finished within 1.5s"
    ):
        client(server.url, model="m", timeout=10, retries=3).chat(MESSAGES, seconds=1.5)
    assert time.monotonic() - started < 4
    assert len(server.chat_requests) == 1
