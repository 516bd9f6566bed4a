"""A progress line for long commands: redrawn in place on a terminal, plain when piped.

On a terminal the line is redrawn (``\\r``) as work advances, with elapsed time
and an ETA; when the output is a file or a pipe, each update is a plain line
(at most one every `plain_every` seconds), so logs stay readable. Used by
``sparsecore sweep`` (a line per study) and ``sparsecore demo`` (a line per run).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sparsecore._text import format_seconds

__all__ = ["ProgressLine"]


class ProgressLine:
    """One progress line: ``label  done/total  elapsed  ETA  extra``.

    Parameters
    ----------
    label : str
        What advances (e.g. ``"sweep"``, ``"[dense]"``).
    total : int
        Units of work.
    stream : file, optional
        Default ``sys.stdout``.
    plain_every : float, default=0.0
        When `stream` is not a terminal: the least seconds between two printed
        lines (the last update is always printed by :meth:`close`).
    """

    def __init__(
        self,
        label: str,
        total: int,
        stream: TextIO | None = None,
        plain_every: float = 0.0,
    ) -> None:
        self.label, self.total = label, total
        self.stream = stream if stream is not None else sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.plain_every = plain_every
        self.start = time.perf_counter()
        self._last_plain = -float("inf")
        self._width = 0
        self._text = ""

    def render(self, done: int, extra: str = "", *, eta: float | None = None) -> str:
        """The line's text for `done` units (ETA from the pace so far unless given)."""
        elapsed = time.perf_counter() - self.start
        if eta is None and 0 < done < self.total:
            eta = elapsed / done * (self.total - done)
        parts = [
            self.label,
            f"{done}/{self.total}",
            f"elapsed {format_seconds(elapsed)}",
        ]
        if eta is not None and done < self.total:
            parts.append(f"ETA {format_seconds(eta)}")
        if extra:
            parts.append(extra)
        return "  ".join(parts)

    def update(self, done: int, extra: str = "", *, eta: float | None = None) -> None:
        """Show progress `done` of `total`."""
        self._text = self.render(done, extra, eta=eta)
        if self.tty:
            pad = " " * max(0, self._width - len(self._text))
            self.stream.write("\r" + self._text + pad)
            self._width = len(self._text)
            self.stream.flush()
            return
        now = time.perf_counter()
        if now - self._last_plain >= self.plain_every or done >= self.total:
            self._last_plain = now
            print(self._text, file=self.stream, flush=True)
            self._text = ""

    def close(self, final: str | None = None) -> None:
        """End the line (on a terminal: a newline); print `final` instead if given."""
        if self.tty:
            if final is not None:
                pad = " " * max(0, self._width - len(final))
                self.stream.write("\r" + final + pad)
            self.stream.write("\n")
            self.stream.flush()
        elif final is not None:
            print(final, file=self.stream, flush=True)
        elif self._text:
            print(self._text, file=self.stream, flush=True)
