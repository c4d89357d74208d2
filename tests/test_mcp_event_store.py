"""The HTTP server's event store (what SSE resumption replays) stays within its bounds."""

from __future__ import annotations

import pytest

pytest.importorskip("mcp")
from mcp.types import JSONRPCNotification

from agentkit.mcp._event_store import MemoryEventStore

pytestmark = pytest.mark.anyio


def note(text: str) -> JSONRPCNotification:
    return JSONRPCNotification(jsonrpc="2.0", method="notifications/message", params={"data": text})


async def replayed(store: MemoryEventStore, after: str) -> tuple[str | None, list[str]]:
    sent: list[str] = []

    async def send(event):
        sent.append(event.message.params["data"])

    return await store.replay_events_after(after, send), sent


async def test_replay_sends_the_later_events_of_that_stream_only():
    store = MemoryEventStore()
    first = await store.store_event("a", None)  # a priming event: nothing to replay
    await store.store_event("b", note("other stream"))
    await store.store_event("a", note("one"))
    await store.store_event("a", note("two"))
    assert await replayed(store, first) == ("a", ["one", "two"])
    assert await replayed(store, "no-such-id") == (None, [])


async def test_the_oldest_events_go_first_past_either_bound():
    by_count = MemoryEventStore(max_events=2)
    ids = [await by_count.store_event("a", note(str(i))) for i in range(4)]
    assert await replayed(by_count, ids[0]) == (None, [])  # dropped: the client missed it
    assert await replayed(by_count, ids[2]) == ("a", ["3"])
    by_size = MemoryEventStore(max_bytes=400)  # each event is 171 bytes of JSON: two fit
    ids = [await by_size.store_event("a", note("x" * 100)) for _ in range(5)]
    assert len(by_size._events) == 2 and by_size._bytes <= 400
    assert await replayed(by_size, ids[3]) == ("a", ["x" * 100])
