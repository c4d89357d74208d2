"""The listening socket `agentkit web` and `agentkit mcp serve --http` open before anything slow."""

import socket

import pytest

from agentkit.cli._listen import listen
from agentkit.cli._main import CLIError


def test_replies_are_not_held_back_by_nagle():
    # uvicorn runs on this socket as given: without TCP_NODELAY an SSE reply written in two parts
    # (MCP's priming event, then the result) waits for the client's delayed ACK, ~40 ms a call.
    with listen("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = sock.accept()
            with accepted:
                assert client.fileno() > 0
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_a_port_out_of_range_is_a_cli_error():
    with pytest.raises(CLIError, match="a port is 0 to 65535"):
        listen("127.0.0.1", 65536)
