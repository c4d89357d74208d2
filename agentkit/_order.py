"""Calls that must run in order: a `sequential` tool's call starts once every earlier call of its
message has finished, and the calls after it wait for it (``parallel_tools=False``: every call)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

__all__ = ["Order"]


class Order:
    """One message's calls, in the order they were dispatched (the message's order)."""

    def __init__(self) -> None:
        self._done: list[tuple[anyio.Event, bool]] = []

    def ticket(self, sequential: bool) -> int:
        """Take the next place, when the call is dispatched (not when its task starts: a task
        group may start its tasks in any order)."""
        self._done.append((anyio.Event(), sequential))
        return len(self._done) - 1

    @asynccontextmanager
    async def turn(self, place: int) -> AsyncIterator[None]:
        """Wait until the call at `place` may start; it has finished when the block ends."""
        done, sequential = self._done[place]
        try:
            for event, earlier_sequential in self._done[:place]:
                if sequential or earlier_sequential:
                    await event.wait()
            yield
        finally:
            done.set()
