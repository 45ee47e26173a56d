"""A one-line progress bar on a terminal (rows, rows/s, ETA, errors); silent otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(
        self,
        total: int,
        done: int = 0,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        every_s: float = 0.2,
        width: int = 24,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.start_rows, self.done, self.errors = total, done, done, 0
        self.started = self.shown = time.monotonic()
        self.every_s, self.width = every_s, width

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.done - self.start_rows) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(fraction * self.width)
        rate = self.rate
        eta = clock((self.total - self.done) / rate) if rate > 0 else "?"
        return (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} rows "
            f"{fraction:4.0%}  {rate:,.0f} rows/s  ETA {eta}  errors {self.errors}"
        )

    def update(self, rows: int, errors: int = 0) -> None:
        self.done += rows
        self.errors += errors
        now = time.monotonic()
        if self.enabled and now - self.shown >= self.every_s:
            self.shown = now
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()
