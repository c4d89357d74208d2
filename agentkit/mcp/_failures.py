"""What an exception from the MCP SDK or a transport says: its text, and whether the connection is gone."""

from __future__ import annotations

import re

import anyio

try:
    from mcp.shared.exceptions import MCPError
    from mcp.types import CONNECTION_CLOSED
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

__all__ = ["connection_lost", "describe", "single"]


def connection_lost(e: BaseException) -> bool:
    """Whether `e` says the connection is gone (a closed or broken stream, an end of file, the
    SDK's "Connection closed", an HTTP session the server forgot), rather than that one call
    failed: a server's error answer, or a result the SDK refused (one that breaks its tool's
    output schema raises RuntimeError), leaves the connection and the other calls on it alone."""
    seen: set[int] = set()
    cause: BaseException | None = single(e)
    while cause is not None and id(cause) not in seen:  # a transport error may be wrapped
        seen.add(id(cause))
        if isinstance(cause, MCPError):
            return cause.code == CONNECTION_CLOSED or _GONE_SESSION.search(cause.message) is not None
        if isinstance(cause, _TRANSPORT_LOST) or _http_transport_error(cause):
            return True
        cause = cause.__cause__
    return False


_TRANSPORT_LOST = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, EOFError, ConnectionError)


def _http_transport_error(e: BaseException) -> bool:
    """An HTTP client's transport error (httpx's `TransportError`, or the flavour the SDK ships),
    told by name: which HTTP library the SDK uses is its own business."""
    return any(c.__name__ == "TransportError" and c.__module__.startswith("httpx") for c in type(e).__mro__)


_GONE_SESSION = re.compile(r"\bsession\b.*\b(not found|terminated|expired|unknown)\b", re.IGNORECASE)


def single(e: BaseException) -> BaseException:
    """The one exception inside (nested) exception groups of one, or `e`."""
    inner = getattr(e, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1:
        e = inner[0]
        inner = getattr(e, "exceptions", None)
    return e


def describe(e: BaseException) -> str:
    e = single(e)
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
