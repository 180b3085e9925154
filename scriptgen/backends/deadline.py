"""An overall deadline for each reply: httpx's read timeout bounds only the gap between
two bytes, and a server that streams keep-alives forever never hits it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2


class DeadlinePassed(httpx2.ReadTimeout):
    """A reply still coming when its attempt's deadline passed."""


class DeadlineTransport(httpx2.BaseTransport):
    """Every reply must end within ``seconds`` of its request: the read timeout only
    bounds the gap between two bytes, and a server that sends keep-alives forever never
    hits it."""

    def __init__(
        self, inner: httpx2.BaseTransport, deadline: Callable[[], tuple[float, float]]
    ) -> None:
        self.inner = inner
        # When a request sent now must have its reply, and that limit in seconds.
        self.deadline = deadline

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline, seconds = self.deadline()
        response = self.inner.handle_request(request)
        response.stream = DeadlineStream(response.stream, deadline, seconds)
        return response

    def close(self) -> None:
        self.inner.close()


class DeadlineStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, deadline: float, seconds: float) -> None:
        self.inner = inner
        self.deadline = deadline
        self.seconds = seconds

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            if time.monotonic() > self.deadline:
                raise DeadlinePassed(f"reply not finished within {self.seconds:g}s")
            yield chunk

    def close(self) -> None:
        self.inner.close()
