"""Calls that must run in order: a `sequential` tool's call starts once every earlier call of its
message has finished, and the calls after it wait for it (``parallel_tools=False``: every call)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

__all__ = ["STILL", "WAITS", "Order"]

STILL = "an earlier call of this message timed out and may still be running"
"""Why a call that had to wait for such a call was not run."""
WAITS = "an earlier call of this message waits for approval"
"""Why a call that had to wait for a call held for approval (a sub-agent's) was not run."""


class Order:
    """One message's calls, in the order they were dispatched (the message's order)."""

    def __init__(self) -> None:
        self._done: list[tuple[anyio.Event, bool]] = []
        self._abandoned: dict[int, str] = {}
        """Places whose call did not finish (it timed out in a worker thread that may still be
        running, or it waits for approval), with why the calls that wait for it cannot run."""

    def ticket(self, sequential: bool) -> int:
        """Take the next place, when the call is dispatched (not when its task starts: a task
        group may start its tasks in any order)."""
        self._done.append((anyio.Event(), sequential))
        return len(self._done) - 1

    def abandon(self, place: int, why: str = STILL) -> None:
        """The call at `place` did not finish (`why`; call it before the block ends)."""
        self._abandoned[place] = why

    @asynccontextmanager
    async def turn(self, place: int) -> AsyncIterator[str | None]:
        """Wait until the call at `place` may start; it has finished when the block ends. Yields
        why it must not run (a call it waited for did not finish: `abandon`), or None."""
        done, sequential = self._done[place]
        blocked: str | None = None
        try:
            for i, (event, earlier_sequential) in enumerate(self._done[:place]):
                if sequential or earlier_sequential:
                    await event.wait()
                    blocked = blocked or self._abandoned.get(i)
            yield blocked
        finally:
            done.set()
