"""An MCP server (the SDK's low-level `Server`) that lists its tools one per page; one tool is task-only.

python paged_server.py            # three pages: one, two, task_only (execution.taskSupport "required")
python paged_server.py --endless  # every page has a next cursor (a tool list that never ends)
"""

import sys

import anyio
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.types import CallToolResult, ListToolsResult, TextContent, Tool, ToolExecution

ENDLESS = "--endless" in sys.argv
SCHEMA = {"type": "object", "properties": {}}


def _tool(i: int) -> Tool:
    if i == 2:
        return Tool(name="task_only", input_schema=SCHEMA, execution=ToolExecution(task_support="required"))
    return Tool(name=f"tool_{i}", input_schema=SCHEMA, description=f"page {i}")


async def list_tools(ctx, params):
    page = int(params.cursor) if params is not None and params.cursor else 0
    last = not ENDLESS and page == 2
    return ListToolsResult(tools=[_tool(page)], next_cursor=None if last else str(page + 1))


async def call_tool(ctx, params):
    return CallToolResult(content=[TextContent(text=f"called {params.name}")])


server = Server("paged", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
