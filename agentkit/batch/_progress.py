"""The progress bar on a terminal: done / failed / running, runs per second, tokens per second, ETA."""

from __future__ import annotations

import sys
import time
from typing import Any

from ._result import BatchResult


class Progress:
    """Counts a batch's runs; draws a tqdm bar on stderr only when it is a terminal and `enabled`.

    `initial`: runs already done (in the output file, on resume)."""

    def __init__(self, *, enabled: bool, total: int | None, initial: int) -> None:
        self.failed = self.waiting = self.running = self.tokens = 0
        self._start = time.perf_counter()
        self._bar: Any = None
        out = sys.stderr
        if enabled and out.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, file=out, unit="run", desc="runs", dynamic_ncols=True)

    def started(self) -> None:
        self.running += 1

    def finished(self, result: BatchResult) -> None:
        self.running -= 1
        self.failed += result.error is not None
        self.waiting += bool(result.pending)
        self.tokens += result.usage.total_tokens
        if self._bar is not None:
            self._bar.set_postfix_str(self.summary(), refresh=False)
            self._bar.update(1)

    def summary(self) -> str:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        waiting = f", waiting for approval {self.waiting}" if self.waiting else ""
        return f"failed {self.failed}{waiting}, running {self.running}, {self.tokens / elapsed:.0f} tok/s"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.summary(), refresh=False)
            self._bar.close()
