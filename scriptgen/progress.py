"""Progress on stderr: which stage runs, how long each took."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


class Progress:
    """Prints one line per finished stage; a spinner while a stage runs on a terminal."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.quiet = quiet

    @contextmanager
    def stage(self, text: str) -> Iterator[Callable[[str], None]]:
        """Yields ``update(detail)``, which shows a live detail (e.g. tokens streamed)."""
        if self.quiet:
            yield lambda detail: None
            return
        start = time.perf_counter()
        with self.console.status(f"{text}…") as status:
            yield lambda detail: status.update(f"{text}… {detail}")
        self.console.print(
            f"[green]✓[/] {text} [dim]({time.perf_counter() - start:.1f}s)[/]"
        )

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)


QUIET = Progress(quiet=True)
