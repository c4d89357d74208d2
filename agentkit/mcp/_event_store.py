"""A bounded in-memory event store for the Streamable HTTP server: what lets a client that lost
a call's SSE stream reconnect with ``Last-Event-ID`` and get the rest (MCP's resumability)."""

from __future__ import annotations

import itertools
from collections import OrderedDict

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.types import JSONRPCMessage

__all__ = ["MemoryEventStore"]


class MemoryEventStore(EventStore):
    """The last events of every stream, at most `max_events` of them and `max_bytes` of their
    JSON, oldest dropped first: memory stays bounded whatever the clients do (a result may hold
    megabytes of images), and a client that comes back too late misses what was dropped."""

    def __init__(self, max_events: int = 10_000, max_bytes: int = 64 * 2**20) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._events: OrderedDict[EventId, tuple[StreamId, JSONRPCMessage | None, int]] = OrderedDict()
        self._bytes = 0
        self._numbers = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = str(next(self._numbers))
        size = len(message.model_dump_json(by_alias=True, exclude_none=True)) if message is not None else 0
        self._events[event_id] = (stream_id, message, size)
        self._bytes += size
        while self._events and (len(self._events) > self.max_events or self._bytes > self.max_bytes):
            self._bytes -= self._events.popitem(last=False)[1][2]
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        found = self._events.get(last_event_id)
        if found is None:
            return None
        stream_id = found[0]
        later = itertools.dropwhile(lambda item: item[0] != last_event_id, list(self._events.items()))
        next(later)  # the event the client already has
        for event_id, (stream, message, _) in later:
            if stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id
