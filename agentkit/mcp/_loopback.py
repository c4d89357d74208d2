"""The OAuth redirect, taken on the loopback interface: one GET of the redirect URI's path carrying the
authorization's ``state``."""

from __future__ import annotations

import contextlib
import logging
import socket
import urllib.parse
import webbrowser
from typing import Any

import anyio
import anyio.to_thread

try:
    from mcp.client.auth import OAuthFlowError
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

from ..exceptions import UserError

logger = logging.getLogger("agentkit")

_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def loopback_address(redirect_uri: str) -> tuple[str, int, str]:
    """Where agentkit listens for `redirect_uri`: (host, port, path); a `UserError` if it cannot."""
    parts = urllib.parse.urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK or parts.port is None:
        raise UserError(
            f"agentkit can take the redirect only at an http://127.0.0.1:PORT/ or http://localhost:PORT/ address, "
            f"not {redirect_uri!r}: give open_url to take it yourself"
        )
    host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
    return host, parts.port, parts.path or "/"


_PAGE = "<!doctype html><meta charset=utf-8><title>agentkit</title><p>{}</p><p>You can close this window.</p>"


MAX_CONNECTIONS = 16
"""Connections served at once: more wait in the listen backlog, holding no file of this process (a flood of
idle connections to the port would otherwise exhaust them and end the sign-in)."""
IDLE_SECONDS = 10.0
"""How long one connection may take to send its request."""


async def take_redirect(
    redirect_uri: str, state: str, bound: socket.socket | None, url: str, *, browser: bool, timeout: float
) -> str:
    """Listen at `redirect_uri` (on `bound`, agentkit's own port, when given) for one GET of its path that
    carries `state`; return the URL requested. Other requests are answered 400 and change nothing. Nothing
    listens there once this returns, except `bound` itself, which its owner closes."""
    from anyio.abc import SocketListener

    path = loopback_address(redirect_uri)[2]
    sockets = [bound.dup()] if bound is not None else _bind_given(redirect_uri)
    listeners: list[Any] = []
    try:
        for sock in sockets:
            sock.listen(128)
            listeners.append(await SocketListener.from_socket(sock))
    except BaseException:
        for sock in sockets[len(listeners) :]:
            sock.close()
        for listener in listeners:
            await listener.aclose()
        raise

    async def open_browser() -> None:
        # Beside the listener, not before it: a console browser (BROWSER=lynx) returns only once it has
        # loaded the redirect, which this listener answers.
        opened = await anyio.to_thread.run_sync(webbrowser.open, url, abandon_on_cancel=True)
        # The URL holds no secret (the PKCE verifier stays here): show it when no browser could be opened.
        log = logger.info if opened else logger.warning
        log("to authorize this MCP client, open this URL in a browser: %s", url)

    got: list[str] = []
    slots = anyio.CapacityLimiter(MAX_CONNECTIONS)
    try:
        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as tg:

                async def serve(stream: Any, slot: object) -> None:
                    try:
                        async with stream:
                            with anyio.move_on_after(IDLE_SECONDS):
                                target = await _read_target(stream)
                                if target is None:
                                    return
                                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))
                                if urllib.parse.urlsplit(target).path != path or query.get("state") != state:
                                    await _answer(stream, 400, "This is not the redirect agentkit is waiting for.")
                                    return
                                failed = "error" in query
                                await _answer(stream, 200, "Authorization refused." if failed else "Authorized.")
                                got.append(target)
                                tg.cancel_scope.cancel()
                    finally:
                        slots.release_on_behalf_of(slot)

                async def accept(listener: Any) -> None:
                    while True:
                        slot = object()
                        await slots.acquire_on_behalf_of(slot)
                        try:
                            stream = await _accept_one(listener)
                        except OSError as e:  # out of files (EMFILE) or the like: wait for some to be freed
                            slots.release_on_behalf_of(slot)
                            logger.debug("the OAuth redirect listener could not accept a connection: %s", e)
                            await anyio.sleep(0.1)
                            continue
                        tg.start_soon(serve, stream, slot)

                for listener in listeners:
                    tg.start_soon(accept, listener)
                if browser:
                    tg.start_soon(open_browser)
    finally:
        for listener in listeners:
            await listener.aclose()
    if not got:
        raise OAuthFlowError(f"no authorization reached {redirect_uri} within {timeout:g} s")
    return urllib.parse.urljoin(redirect_uri, got[0])


async def _accept_one(listener: Any) -> Any:  # its own function: a test makes accept() fail here
    return await listener.accept()


def _bind_given(redirect_uri: str) -> list[socket.socket]:
    """Sockets bound at a redirect URI the user gave: ``localhost`` is 127.0.0.1 and, where the system has
    it, ::1 (a browser may try either)."""
    name = urllib.parse.urlsplit(redirect_uri).hostname or ""
    port = urllib.parse.urlsplit(redirect_uri).port or 0
    wanted = [(socket.AF_INET6 if ":" in name else socket.AF_INET, name, True)]
    if name == "localhost":
        wanted = [(socket.AF_INET, "127.0.0.1", True), (socket.AF_INET6, "::1", False)]
    sockets: list[socket.socket] = []
    for family, address, required in wanted:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a sign-in again soon after one
            sock.bind((address, port))
        except OSError as e:
            sock.close()
            if not required:
                continue  # no ::1 here: 127.0.0.1 serves localhost
            for other in sockets:
                other.close()
            raise UserError(f"agentkit cannot listen for the OAuth redirect at {redirect_uri}: {e}") from e
        sockets.append(sock)
    return sockets


async def _read_target(stream: Any) -> str | None:
    """The request target of an HTTP GET read from `stream` (None for anything else or over 16 KiB)."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 16384:
        try:
            head += await stream.receive(4096)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return None
    words = head.split(b"\r\n", 1)[0].split(b" ")
    if len(words) != 3 or words[0] != b"GET":
        return None
    return words[1].decode("ascii", "replace")


async def _answer(stream: Any, status: int, text: str) -> None:
    body = _PAGE.format(text).encode()
    reason = "OK" if status == 200 else "Bad Request"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n"
    )
    with contextlib.suppress(anyio.BrokenResourceError, OSError):  # the browser went away: nothing to tell it
        await stream.send(head.encode() + body)
