"""An MCP server (stdio, the SDK's low-level API) whose tool names OpenAI-style servers refuse
(dotted, spaced, too long) next to a valid name that a plain mapping would collide with. Each
tool answers with the name it was called by and its arguments, as JSON."""
import json
import sys

import anyio
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.types import CallToolResult, ListToolsResult, TextContent, Tool

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}
NAMES = ["math.add", "math_add", "get weather", "x" * 70, "x" * 64]
if "--twice" in sys.argv:  # a server that lists one name twice
    NAMES.append("math_add")


async def list_tools(ctx, params):
    return ListToolsResult(tools=[Tool(name=n, description=f"the tool {n}", input_schema=SCHEMA) for n in NAMES])


async def call_tool(ctx, params):
    said = {"name": params.name, "arguments": params.arguments}
    return CallToolResult(content=[TextContent(text=json.dumps(said))])


server = Server("odd", on_list_tools=list_tools, on_call_tool=call_tool)


async def main():
    async with stdio_server() as (r, w):
        await server.run(r, w, server.create_initialization_options())


anyio.run(main)
