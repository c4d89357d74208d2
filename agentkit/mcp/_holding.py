"""Holding a connection: an entered toolset's, in a task of its own, and the watch on its transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar

import anyio
import sniffio

C = TypeVar("C")


class Holder(Generic[C]):
    """The connection of an entered toolset (what `connect()` enters), held by a task that is nobody's child."""

    def __init__(self, connect: Callable[[], AbstractAsyncContextManager[C]]) -> None:
        self.connect = connect
        self.ready = anyio.Event()
        self.release = anyio.Event()
        self.done = anyio.Event()
        self.connection: C | None = None
        self.failure: BaseException | None = None

    async def open(self) -> C:
        _spawn(self._hold)
        try:
            await self.ready.wait()
        except BaseException:  # the caller was cancelled while connecting
            self.release.set()
            raise
        if self.connection is None:
            assert self.failure is not None
            raise self.failure
        return self.connection

    async def close(self) -> None:
        self.release.set()
        with anyio.CancelScope(shield=True):
            await self.done.wait()

    async def _hold(self) -> None:
        try:
            async with self.connect() as connection:
                self.connection = connection
                self.ready.set()
                await self.release.wait()
        except BaseException as e:  # a task of its own: nothing above it to take an exception
            self.failure = e
            if isinstance(e, anyio.get_cancelled_exc_class()):
                raise
        finally:
            self.ready.set()
            self.done.set()


_DETACHED: set[Any] = set()


def _spawn(fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Start `fn` in a task outside any task group (asyncio or trio)."""
    if sniffio.current_async_library() == "trio":
        import trio

        trio.lowlevel.spawn_system_task(fn)
        return
    import asyncio

    task: asyncio.Task[None] = asyncio.get_running_loop().create_task(fn())
    _DETACHED.add(task)  # a reference, or the task may be collected while it runs
    task.add_done_callback(_DETACHED.discard)


@asynccontextmanager
async def watched(transport: Any, on_end: Callable[[], None]) -> AsyncIterator[tuple[Any, Any]]:
    """`transport` (an SDK transport: a context of a receive and a send stream), with `on_end`
    called when its receive stream ends: the server died or dropped the connection."""
    async with transport as (receive, send):
        yield _WatchedReceive(receive, on_end), send


class _WatchedReceive:
    """A receive stream that calls `on_end` when it ends; otherwise the stream itself."""

    def __init__(self, stream: Any, on_end: Callable[[], None]) -> None:
        self._stream = stream
        self._on_end = on_end

    def __getattr__(self, name: str) -> Any:  # `last_context` and whatever else the SDK reads
        return getattr(self._stream, name)

    async def __aenter__(self) -> _WatchedReceive:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._stream.__aexit__(*exc_info)

    def __aiter__(self) -> _WatchedReceive:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._stream.__anext__()
        except (StopAsyncIteration, anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise

    async def receive(self) -> Any:
        try:
            return await self._stream.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise

    async def aclose(self) -> None:
        await self._stream.aclose()
