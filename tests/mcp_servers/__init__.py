"""MCP servers for the tests, and a helper to wait for one on a port."""

from __future__ import annotations

import socket
import subprocess
import time


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
