"""An MCP server written with the SDK's own server API (`MCPServer`), for the client tests.

    python sdk_server.py                 # stdio
    python sdk_server.py --http PORT     # Streamable HTTP on 127.0.0.1:PORT/mcp
    python sdk_server.py --sse PORT      # the legacy HTTP+SSE transport on 127.0.0.1:PORT/sse
    python sdk_server.py --gate DIR      # stdio; each start noted in DIR/starts, refused if DIR/closed exists

Its tools: add, boom (raises), slow (sleeps), crash (kills the process), hang (never answers), note_and_crash (a side effect, then a crash),
picture (an image), pictures (images of given sizes), record (JSON only), pid (the server's process id), grow (adds a tool and
tells the client the list changed), secret (echoes the Authorization header over HTTP).
"""

from __future__ import annotations

import base64
import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ImageContent, TextContent

server = MCPServer("sdk-test-server")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def boom(what: str) -> CallToolResult:
    """Fail with a message."""
    return CallToolResult(content=[TextContent(text=f"boom: {what} is not allowed")], is_error=True)


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await anyio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def crash() -> str:
    """Kill the server process at once."""
    os._exit(3)


@server.tool()
def note_and_crash(path: str) -> str:
    """Append a line to the file at `path` (a side effect), then kill the server process."""
    with open(path, "a") as f:
        f.write("noted\n")
    os._exit(3)


@server.tool()
async def hang() -> str:
    """Never answer."""
    await anyio.sleep_forever()
    return ""


@server.tool()
def picture() -> list:
    """A 2x2 red PNG and a caption."""
    png = base64.b64encode(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a730000001649444154789c63bc2322c2c0c0c0c4"
        "c0c0c0c0c000000d2201085083727d0000000049454e44ae426082"
    )).decode()  # fmt: skip
    return [ImageContent(data=png, mime_type="image/png"), TextContent(text="a red dot")]


@server.tool()
def pictures(sizes: list[int]) -> list:
    """One PNG-typed image of each size in bytes (image i is filled with the byte i)."""
    return [ImageContent(data=base64.b64encode(bytes([i]) * n).decode(), mime_type="image/png")
            for i, n in enumerate(sizes)]  # fmt: skip


@server.tool()
def record() -> CallToolResult:
    """A record, as structured content only."""
    return CallToolResult(content=[], structured_content={"id": 7, "tags": ["a", "b"]})


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def whoami(ctx: Context) -> str:
    """The Authorization header the request came with (over HTTP), or "none"."""
    return (ctx.headers or {}).get("authorization", "none")


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool `extra` and tell the client the tool list changed."""

    def extra() -> str:
        """A tool that did not exist at first."""
        return "extra!"

    server.add_tool(extra)
    # The 2026-07-28 protocol publishes to `subscriptions/listen`; earlier ones notify.
    if ctx.protocol_version and ctx.protocol_version >= "2026":
        await ctx.notify_tools_changed()
    else:
        await ctx.session.send_tool_list_changed()
    return "grown"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--gate":
        # Each start appends its pid to GATE/starts; with a file GATE/closed, it exits at once.
        gate = sys.argv[2]
        with open(os.path.join(gate, "starts"), "a") as f:
            f.write(f"{os.getpid()}\n")
        if os.path.exists(os.path.join(gate, "closed")):
            sys.exit(4)
        server.run()
    elif len(sys.argv) == 3 and sys.argv[1] == "--sse":
        server.run(transport="sse", host="127.0.0.1", port=int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
