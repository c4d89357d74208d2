"""MCP servers for the tests, and a helper to wait for one on a port."""

from __future__ import annotations

import contextlib
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 60.0) -> None:
    """Return once something listens on 127.0.0.1:`port`; fail if `proc` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert proc.poll() is None, "the server exited"
        time.sleep(0.1)
    raise AssertionError(f"nothing listened on port {port} within {seconds} s")


class _Refuser(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def refusing_server() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 that answers every request 401 Unauthorized; yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuser)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
