"""The loopback listener that takes the OAuth redirect (agentkit.mcp._loopback): a given redirect URI, a flood
of connections, and the port closed once the flow is over."""

from __future__ import annotations

import errno
import socket

import anyio
import pytest

from .mcp_servers import free_port

pytest.importorskip("mcp")

from agentkit.mcp import _loopback
from agentkit.mcp._loopback import take_redirect

pytestmark = pytest.mark.anyio
STATE = "st4te-value"


async def _get(port: int, target: str) -> bytes:
    """One GET of `target` at 127.0.0.1:`port`, retried while nothing listens there yet; the answer's status line."""
    while True:
        try:
            stream = await anyio.connect_tcp("127.0.0.1", port)
        except OSError:
            await anyio.sleep(0.01)  # the listener is not up yet: poll for the condition
            continue
        async with stream:
            await stream.send(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = b""
            with anyio.move_on_after(10):
                while b"\r\n" not in answer:
                    try:
                        answer += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        break
            return answer.split(b"\r\n", 1)[0]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_given_redirect_uri_is_listened_on_and_the_redirect_taken(host):
    port = free_port()
    uri = f"http://{host}:{port}/callback"
    got: list[str] = []
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:

            async def listen() -> None:
                got.append(await take_redirect(uri, STATE, None, "http://as.example/", browser=False, timeout=15))

            tg.start_soon(listen)
            assert await _get(port, f"/callback?code=c0de&state={STATE}") == b"HTTP/1.1 200 OK"
    assert got == [f"http://{host}:{port}/callback?code=c0de&state={STATE}"]
    with socket.socket() as s:  # the flow is over: nothing listens there any more
        assert s.connect_ex(("127.0.0.1", port)) != 0


async def test_running_out_of_files_in_accept_is_a_pause_not_the_end(monkeypatch):
    """accept() failing with EMFILE (a flood of connections) waits and tries again: the redirect still lands."""
    failures = [OSError(errno.EMFILE, "Too many open files")] * 3
    real = _loopback._accept_one

    async def flaky(listener):
        if failures:
            raise failures.pop()
        return await real(listener)

    monkeypatch.setattr(_loopback, "_accept_one", flaky)
    port = free_port()
    got: list[str] = []
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:

            async def listen() -> None:
                uri = f"http://127.0.0.1:{port}/callback"
                got.append(await take_redirect(uri, STATE, None, "http://as.example/", browser=False, timeout=15))

            tg.start_soon(listen)
            await _get(port, f"/callback?code=c0de&state={STATE}")
    assert not failures and len(got) == 1


async def test_idle_connections_are_capped_and_the_redirect_still_lands(monkeypatch):
    """More idle connections than the cap: those over it wait in the backlog (no file each) and are not
    accepted; the redirect, sent once a slot frees, is taken."""
    monkeypatch.setattr(_loopback, "MAX_CONNECTIONS", 2)
    monkeypatch.setattr(_loopback, "IDLE_SECONDS", 0.5)
    real = _loopback._accept_one
    open_now: list[int] = [0, 0]  # (open, most open at once)

    class Counted:
        def __init__(self, stream):
            self.stream = stream

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            open_now[0] -= 1
            await self.stream.aclose()

        def __getattr__(self, name):
            return getattr(self.stream, name)

    async def counting(listener):
        stream = await real(listener)
        open_now[0] += 1
        open_now[1] = max(open_now)
        return Counted(stream)

    monkeypatch.setattr(_loopback, "_accept_one", counting)
    port = free_port()
    got: list[str] = []
    idle: list[socket.socket] = []
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:

            async def listen() -> None:
                uri = f"http://127.0.0.1:{port}/callback"
                got.append(await take_redirect(uri, STATE, None, "http://as.example/", browser=False, timeout=15))

            tg.start_soon(listen)
            await _get(port, "/other")  # up and answering
            for _ in range(6):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            assert await _get(port, f"/callback?code=c0de&state={STATE}") == b"HTTP/1.1 200 OK"
    for s in idle:
        s.close()
    assert len(got) == 1
    assert open_now[1] <= 2


async def test_a_browser_that_waits_for_the_redirect_page_does_not_block_it(monkeypatch):
    # A console browser (BROWSER=lynx) returns only once it has loaded the pages, the redirect to this
    # listener among them: the listener must already be answering while the browser is being opened.
    import urllib.request

    port = free_port()
    uri = f"http://127.0.0.1:{port}/callback"
    loaded: list[int] = []

    def browser(url: str) -> bool:
        with urllib.request.urlopen(f"{uri}?code=c0de&state={STATE}", timeout=10) as page:
            loaded.append(page.status)
        return True

    monkeypatch.setattr(_loopback.webbrowser, "open", browser)
    with anyio.fail_after(30):
        got = await take_redirect(uri, STATE, None, "http://as.example/", browser=True, timeout=20)
    assert got == f"{uri}?code=c0de&state={STATE}" and loaded == [200]
