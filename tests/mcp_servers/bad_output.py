"""An MCP server (the SDK's low-level `Server`, stdio) with one result the SDK client refuses.

    python bad_output.py DIR

`bad` answers with structured content that breaks its own output schema (the SDK client raises
RuntimeError on it). `pay` notes a payment in DIR/ledger, then answers only once DIR/go exists:
the test makes it after `bad` was answered, so `pay`'s result comes after `bad`'s failure on the
same connection. `pid` answers the server's process id.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult, TextContent, Tool

DIR = Path(sys.argv[1])
OUTPUT = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
AMOUNT = {"type": "object", "properties": {"amount": {"type": "integer"}}}


async def list_tools(ctx: object, params: object) -> ListToolsResult:
    return ListToolsResult(tools=[
        Tool(name="bad", description="Bad.", input_schema={"type": "object"}, output_schema=OUTPUT),
        Tool(name="pay", description="Pay.", input_schema=AMOUNT),
        Tool(name="pid", description="The server's process id.", input_schema={"type": "object"}),
    ])  # fmt: skip


async def call_tool(ctx: object, params: CallToolRequestParams) -> CallToolResult:
    if params.name == "bad":
        return CallToolResult(content=[TextContent(text="x")], structured_content={"n": "not an int"})
    if params.name == "pid":
        return CallToolResult(content=[TextContent(text=str(os.getpid()))])
    amount = (params.arguments or {})["amount"]
    with (DIR / "ledger").open("a") as f:  # the side effect, then the receipt when the test says so
        f.write(f"{amount}\n")
    while not (DIR / "go").exists():
        await anyio.sleep(0.01)
    return CallToolResult(content=[TextContent(text=f"paid {amount}")])


server = Server("bad-output", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
