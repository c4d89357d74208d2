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


async def take_redirect(
    redirect_uri: str, state: str, bound: socket.socket | None, url: str, *, browser: bool, timeout: float
) -> str:
    """Listen at `redirect_uri` (on `bound`, agentkit's own port, when given) for one GET of its path that
    carries `state`; return the URL requested. Other requests are answered 400 and change nothing."""
    from anyio.abc import SocketListener

    host, port, path = loopback_address(redirect_uri)
    listener: Any
    if bound is not None:
        bound.listen(8)
        listener = await SocketListener.from_socket(bound.dup())
    else:
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port, reuse_port=False)
    if browser:
        opened = await anyio.to_thread.run_sync(webbrowser.open, url)
        # The URL holds no secret (the PKCE verifier stays here): show it when no browser could be opened.
        log = logger.info if opened else logger.warning
        log("to authorize this MCP client, open this URL in a browser: %s", url)
    got: list[str] = []
    async with listener:
        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as tg:

                async def serve(stream: Any) -> None:
                    async with stream:
                        with anyio.move_on_after(10):
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

                async def accept() -> None:
                    while True:
                        stream = await listener.accept()
                        tg.start_soon(serve, stream)

                tg.start_soon(accept)
    if not got:
        raise OAuthFlowError(f"no authorization reached {redirect_uri} within {timeout:g} s")
    return urllib.parse.urljoin(redirect_uri, got[0])


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
