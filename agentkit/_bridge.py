"""A run that pushes events, read as an async iterator that pulls them."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

__all__ = ["events"]

Emit = Callable[[Any], Awaitable[None]]


async def events(drive: Callable[[Emit], Awaitable[Any]]) -> AsyncIterator[Any]:
    """Run `drive(emit)` in a task, yielding what it emits; its exception is raised at the end.
    Closing the iterator early cancels it (the model stream and the tools)."""
    send, receive = anyio.create_memory_object_stream[Any](math.inf)
    failure: list[BaseException] = []

    async def run() -> None:
        async with send:
            try:
                await drive(send.send)
            except Exception as e:  # re-raised below, outside the task group
                failure.append(e)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        async with receive:
            try:
                async for event in receive:
                    yield event
            except GeneratorExit:
                # The consumer stopped early: cancel the run, then finish without yielding again.
                tg.cancel_scope.cancel()
                return
    if failure:
        raise failure[0]
