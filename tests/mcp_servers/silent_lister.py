"""An MCP server (the SDK's low-level `Server`) that connects, then never answers `tools/list`."""

import anyio
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server


async def list_tools(ctx, params):
    await anyio.sleep_forever()


server = Server("silent-lister", on_list_tools=list_tools)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
