"""MCP both ways: any MCP server's tools in an agent (`MCPToolset`), and agentkit tools served to
any MCP client (`server`). Needs the extra ``agentkit[mcp]`` (the official ``mcp`` SDK)."""

from ._listing import MCPTool
from ._oauth import oauth
from ._server import server
from ._toolset import MCPToolset

__all__ = ["MCPTool", "MCPToolset", "oauth", "server"]
