"""An MCP server (the SDK's `MCPServer`, stdio) for two runs' calls in flight at once on one connection.

    python two_runs.py DIR

`sampler` writes DIR/a_started, waits until `wait` has been called, asks the client's model 10 times (each
refusal caught), then lets `wait` return. So `wait`'s call goes out after `sampler`'s and is in flight while
`sampler` samples.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import SamplingMessage, TextContent

warnings.simplefilter("ignore")
server = MCPServer("two-runs")
DIR = Path(sys.argv[1])
waiting = asyncio.Event()
sampled = asyncio.Event()


@server.tool()
async def sampler(ctx: Context) -> str:
    """Sample ten times."""
    (DIR / "a_started").touch()
    await waiting.wait()
    answered = 0
    for n in range(10):
        try:
            await ctx.session.create_message(
                [SamplingMessage(role="user", content=TextContent(text=f"q{n}"))],
                max_tokens=5,
                related_request_id=ctx.request_id,
            )
            answered += 1
        except Exception:
            pass
    sampled.set()
    return f"{answered} answered"


@server.tool()
async def wait() -> str:
    """Wait for the sampler."""
    waiting.set()
    await sampled.wait()
    return "waited"


if __name__ == "__main__":
    server.run("stdio")
