"""The request checks of ``agentkit web``: a page on another site can neither drive the agent nor read it.

Any page the browser shows can send a "simple" POST (``text/plain``, no preflight) to
127.0.0.1, and with DNS rebinding (its own name made to resolve to 127.0.0.1) it is
same-origin and can read the answers. So every request must name the served address in
``Host``, a browser's ``Origin`` (when there is one) must be the page's own, and a question
must come as ``application/json``, which another site's page cannot send without a CORS
preflight that this server never grants. The same idea as the MCP SDK's DNS-rebinding protection.
No answer may be shown in another page's frame either: a page that frames the chat under a decoy
could make a click land on Send or Approve (clickjacking).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")
"""The names always served: a DNS-rebinding page's own name is never one of them."""
_NO_FRAMING = [(b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'")]
"""Headers on every answer: no page may show this one in a frame (older browsers read the first)."""


class Refused(Exception):
    """A request refused: `status` and the message sent back as ``{"error": message}``.

    `close`: the connection is closed after the answer, for a body left unread.
    """

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close

    def response(self) -> Any:
        """The answer: a starlette ``JSONResponse``."""
        from starlette.responses import JSONResponse

        headers = {"Connection": "close"} if self.close else None
        return JSONResponse({"error": self.message}, status_code=self.status, headers=headers)


class HostCheck:
    """ASGI middleware: every request (every route) must name the served address; an Origin must be the page's;
    every answer forbids framing.

    `host` is the address given to listen on (``--host``): a name there is served too.
    """

    def __init__(self, app: Any, *, host: str) -> None:
        self.app = app
        self.host = host

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            send = _unframed(send)
            try:
                check_host_and_origin(scope, self.host)
            except Refused as e:
                await e.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _unframed(send: Any) -> Any:
    """`send` that adds the no-framing headers to the start of each answer."""

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *_NO_FRAMING]}
        await send(message)

    return sending


def check_host_and_origin(scope: Any, host: str) -> None:
    """Raise `Refused` (421) for a Host other than the served address, (403) for an Origin other than the page."""
    from starlette.datastructures import Headers

    address, port = scope.get("server") or ("", None)  # the local end of this connection
    served = {(_canonical(n), port) for n in (*LOOPBACK, host, address) if n}
    headers = Headers(scope=scope)
    shown = f"http://{'[' + address + ']' if ':' in address else address}:{port}"
    value = headers.get("host")
    if value is None or _split(value) not in served:
        raise Refused(421, f"the Host {value!r} is not the address served: this server answers only at {shown} "
                           "(or localhost)")  # fmt: skip
    origin = headers.get("origin")
    if origin is None:  # not a browser (curl, a script), or a browser's same-origin GET
        return
    netloc = origin.removeprefix("http://")
    if f"http://{netloc}" != origin or _split(netloc) not in served:
        raise Refused(403, f"the Origin {origin!r} is not this page ({shown}): requests from other pages are refused")


async def json_body(request: Any, limit: int) -> bytes:
    """The body of a JSON `request`, at most `limit` bytes; `Refused` (415 or 413) otherwise.

    A declared length over the limit is refused before any of the body is read, and a body
    with no length (chunked) or a longer one than declared is read only up to the limit.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise Refused(415, f"the body must be sent as Content-Type: application/json, not {content_type!r}")
    too_big = Refused(413, f"the request body is over {limit} bytes", close=True)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


def _split(netloc: str) -> tuple[str, int] | None:
    """(name, port) of a ``Host`` value or an origin's host and port (80 when left out); None if malformed."""
    if any(c in netloc for c in "/?#@"):  # a host and a port, nothing else
        return None
    try:
        parts = urlsplit(f"//{netloc}")
        return _canonical(parts.hostname or ""), parts.port or 80
    except ValueError:  # a port that is not a number
        return None


def _canonical(name: str) -> str:
    """An address in one spelling (``::ffff:127.0.0.1`` is ``127.0.0.1``), a name in lower case."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name.lower()
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)
