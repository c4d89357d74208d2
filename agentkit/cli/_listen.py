"""The listening socket of `agentkit web` and `agentkit mcp serve --http`, opened before anything slow."""

from __future__ import annotations

import socket
from typing import Any

from ._main import CLIError


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port` (0: any free port); one that is taken is a `CLIError`.

    Opened before the model loads, so that a taken port is said at once; connections wait in the
    backlog until the server runs.
    """
    if not 0 <= port <= 65535:
        raise CLIError(f"cannot listen on {host}:{port}: a port is 0 to 65535")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise CLIError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def serve(application: Any, sock: socket.socket) -> None:
    """Run `application` with uvicorn on `sock` until interrupted; the socket is closed after."""
    import uvicorn

    with sock:
        uvicorn.Server(uvicorn.Config(application, log_level="warning")).run(sockets=[sock])
