"""How `LocalModel`'s calls share one model: a first-come-first-served gate for one-at-a-time
generation, the stopping criterion that ends it when the caller goes, and the streamer."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

__all__ = ["_Gate", "_Stop", "_Streamer", "common_prefix", "longest_prefix"]


class _Stop:
    """A stopping criterion (transformers calls it after each token): stops generation when the
    caller has gone (cancelled stream, closed iterator)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


class _Waiter:
    def __init__(self) -> None:
        self.woken = threading.Event()
        self.granted = False


class _Gate:
    """One holder at a time, first come first served, across tasks, threads and event loops.

    A waiter blocks in a thread of its own that is abandoned (then woken) if the waiter is
    cancelled, so cancelling a call queued behind another generation takes effect at once; a
    plain lock in the generating thread would hold the cancelled caller until its turn came.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._queue: deque[_Waiter] = deque()

    @property
    def waiting(self) -> int:
        """Callers queued for the gate."""
        return len(self._queue)

    async def acquire(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            waiter = _Waiter()
            self._queue.append(waiter)
        try:
            # Its own limiter: queued callers must not take the threads that generation needs.
            await anyio.to_thread.run_sync(waiter.woken.wait, abandon_on_cancel=True, limiter=anyio.CapacityLimiter(1))
        except BaseException:
            with self._mutex:
                granted = waiter.granted
                if not granted:
                    self._queue.remove(waiter)
            waiter.woken.set()  # ends the abandoned thread
            if granted:  # the gate came to us as we left: pass it on
                self.release()
            raise

    def release(self) -> None:
        with self._mutex:
            if self._queue:
                waiter = self._queue.popleft()
                waiter.granted = True  # handed over: the gate stays held
                waiter.woken.set()
            else:
                self._held = False


class _Streamer:
    """transformers streamer protocol: receives token ids, sends decoded text deltas.

    Decodes a sliding window (as TGI does), so streaming costs O(n), and holds back a delta
    that ends in an incomplete UTF-8 sequence.
    """

    def __init__(self, decode: Callable[[list[int]], str], on_text: Callable[[str], None]) -> None:
        self.decode, self.on_text = decode, on_text
        self.ids: list[int] = []
        self.prefix = self.read = 0
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() first passes the prompt
            self.prompt_seen = True
            return
        self.ids.extend(int(t) for t in value.reshape(-1).tolist())
        before = self.decode(self.ids[self.prefix : self.read])
        after = self.decode(self.ids[self.prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.on_text(after[len(before) :])
            self.prefix, self.read = self.read, len(self.ids)

    def end(self) -> None:
        rest = self.decode(self.ids[self.prefix :])[len(self.decode(self.ids[self.prefix : self.read])) :]
        if rest:
            self.on_text(rest)


def longest_prefix(pool: Any, ids: list[int]) -> tuple[int | None, int]:
    """The index in `pool` (pairs of token ids and a cache) of the entry sharing the longest
    prefix with `ids`, and that length (None, 0 when none shares a token)."""
    best, best_len = None, 0
    for i, (cached_ids, _) in enumerate(pool):
        n = common_prefix(cached_ids, ids)
        if n > best_len:
            best, best_len = i, n
    return best, best_len


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
