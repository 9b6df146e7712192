"""A small progress bar for long management commands, written to stderr so
that stdout stays clean for results and ``--quiet`` keeps cron mail empty."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = max(total, 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.total > 0
        self.done = 0
        self.started = time.monotonic()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_tenth = -1

    def advance(self, step: int) -> None:
        self.done = min(self.done + step, self.total)
        if not self.enabled:
            return
        fraction = self.done / self.total
        if self._tty:
            filled = int(fraction * 30)
            bar = "#" * filled + "." * (30 - filled)
            self.stream.write(f"\r{self.label} [{bar}] {self.done:,}/{self.total:,}")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()
        else:
            # Not a terminal (logs, CI): one line per 10% instead of a redraw.
            tenth = int(fraction * 10)
            if tenth != self._last_tenth:
                self._last_tenth = tenth
                self.stream.write(f"{self.label}: {self.done:,}/{self.total:,} ({fraction:.0%})\n")
                self.stream.flush()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started
