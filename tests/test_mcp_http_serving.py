"""`agentkit mcp serve --http` on the wire: SSE streams a client of 2025-11-25 can resume after
the server drops them (a priming event, the retry field, the answer replayed on a GET with
``Last-Event-ID``), several SSE streams at once, and DNS-rebinding protection (the Host and
Origin headers must name a loopback address). Raw HTTP, as a browser or the suite sends it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .mcp_servers import free_port, wait_for_port

pytest.importorskip("mcp")

ROOT = Path(__file__).resolve().parent.parent
VERSION = "2025-11-25"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentkit", "mcp", "serve", "tests.mcp_servers.conformance_tools:TOOLS",
         "--http", f"127.0.0.1:{port}"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def events(response: httpx.Response) -> list[dict[str, str]]:
    """The SSE events of a response, each as its fields (``id``, ``data``, ``retry``...)."""
    found, event = [], {}
    for line in response.iter_lines():
        if not line:
            if event:
                found.append(event)
            event = {}
            continue
        field, _, value = line.partition(":")
        event[field] = event.get(field, "") + value.removeprefix(" ")
    if event:
        found.append(event)
    return found


HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def session(client: httpx.Client, url: str) -> dict[str, str]:
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}  # fmt: skip
    response = client.post(url, json=init, headers=HEADERS)
    assert response.status_code == 200, response.text
    headers = {**HEADERS, "mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": VERSION}
    client.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


def test_a_dropped_call_stream_is_resumed_with_last_event_id(url):
    with httpx.Client(timeout=30) as client:
        headers = session(client, url)
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "test_reconnection",
                                                                             "arguments": {}}}  # fmt: skip
        with client.stream("POST", url, json=call, headers=headers) as response:
            first = events(response)
        # A priming event (an id, no data) with the retry interval, and the stream closed before the answer.
        assert first[0]["data"] == "" and first[0]["id"] and first[0]["retry"] == "1000", first
        assert not any('"result"' in e.get("data", "") for e in first), first
        resume = {**headers, "Accept": "text/event-stream", "last-event-id": first[-1]["id"]}
        with client.stream("GET", url, headers=resume) as response:
            answers = []
            for event in events_until_result(response):
                answers.append(event)
        message = json.loads(answers[-1]["data"])
        assert (message["id"], message["result"]["content"][0]["text"]) == (1, "Reconnection test completed")


def events_until_result(response: httpx.Response) -> Iterator[dict[str, str]]:
    """A resumed stream stays open: read it until the answer arrives."""
    event: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if event:
                yield event
                if '"result"' in event.get("data", ""):
                    return
            event = {}
            continue
        field, _, value = line.partition(":")
        event[field] = event.get(field, "") + value.removeprefix(" ")


def test_several_call_streams_at_once(url):
    with httpx.Client(timeout=30) as client:
        headers = session(client, url)
        streams = [client.stream("POST", url, headers=headers,
                                 json={"jsonrpc": "2.0", "id": 10 + i, "method": "tools/list"}) for i in range(3)]  # fmt: skip
        responses = [s.__enter__() for s in streams]
        try:
            assert [r.status_code for r in responses] == [200, 200, 200]
            answered = [json.loads(events(r)[-1]["data"])["id"] for r in responses]
        finally:
            for s in streams:
                s.__exit__(None, None, None)
    assert answered == [10, 11, 12]


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [("host", "evil.example.com", 421), ("origin", "http://evil.example.com", 403),
     ("host", "localhost:1234", 200), ("origin", "http://127.0.0.1:5173", 200)],
)  # fmt: skip
def test_dns_rebinding_is_refused_and_loopback_names_accepted(url, header, value, status):
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}  # fmt: skip
    with httpx.Client(timeout=30) as client:
        response = client.post(url, json=init, headers={**HEADERS, header: value})
    assert response.status_code == status, response.text
