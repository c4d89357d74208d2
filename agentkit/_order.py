"""Calls that must run in order: a `sequential` tool's call starts once every earlier call of its
message has finished, and the calls after it wait for it (``parallel_tools=False``: every call)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

__all__ = ["STILL", "Order"]

STILL = "an earlier call of this message timed out and may still be running"
"""Why a call that had to wait for such a call was not run."""


class Order:
    """One message's calls, in the order they were dispatched (the message's order)."""

    def __init__(self) -> None:
        self._done: list[tuple[anyio.Event, bool]] = []
        self._abandoned: set[int] = set()
        """Places whose call timed out in a worker thread that may still be running."""

    def ticket(self, sequential: bool) -> int:
        """Take the next place, when the call is dispatched (not when its task starts: a task
        group may start its tasks in any order)."""
        self._done.append((anyio.Event(), sequential))
        return len(self._done) - 1

    def abandon(self, place: int) -> None:
        """The call at `place` timed out, and its thread may still be running (call it before the block ends)."""
        self._abandoned.add(place)

    @asynccontextmanager
    async def turn(self, place: int) -> AsyncIterator[bool]:
        """Wait until the call at `place` may start; it has finished when the block ends. Yields
        whether it must not run: a call it waited for may still be running (`abandon`)."""
        done, sequential = self._done[place]
        blocked = False
        try:
            for i, (event, earlier_sequential) in enumerate(self._done[:place]):
                if sequential or earlier_sequential:
                    await event.wait()
                    blocked = blocked or i in self._abandoned
            yield blocked
        finally:
            done.set()
