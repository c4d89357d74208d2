"""An MCP server (the SDK's low-level `Server`, stdio) whose results the SDK client refuses or cannot check.

`wrong` answers structured content that breaks its output schema; `missing` declares an output schema and
answers none; `loop` declares an output schema whose references loop (``$defs/a`` is ``$ref: #/$defs/a``).
"""

from __future__ import annotations

import anyio
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult, TextContent, Tool

OUTPUT = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
LOOP = {"type": "object", "$defs": {"a": {"$ref": "#/$defs/a"}}, "properties": {"n": {"$ref": "#/$defs/a"}}}
ANY = {"type": "object"}


async def list_tools(ctx: object, params: object) -> ListToolsResult:
    return ListToolsResult(tools=[
        Tool(name="wrong", description="Wrong.", input_schema=ANY, output_schema=OUTPUT),
        Tool(name="missing", description="Missing.", input_schema=ANY, output_schema=OUTPUT),
        Tool(name="loop", description="Loop.", input_schema=ANY, output_schema=LOOP),
    ])  # fmt: skip


async def call_tool(ctx: object, params: CallToolRequestParams) -> CallToolResult:
    if params.name == "wrong":
        return CallToolResult(content=[TextContent(text="n is x")], structured_content={"n": "x\x1b[31m"})
    if params.name == "missing":
        return CallToolResult(content=[TextContent(text="no structure")])
    return CallToolResult(content=[TextContent(text='{"n": 1}')], structured_content={"n": 1})


server = Server("refused-results", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
