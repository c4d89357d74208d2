"""MCP both ways: any MCP server's tools in an agent (`MCPToolset`), and agentkit tools served to
any MCP client (`server`). Needs the extra ``agentkit[mcp]`` (the official ``mcp`` SDK)."""

from . import _sdk  # noqa: F401  # first: without the SDK, the error says how to install it
from ._content import Audio, EmbeddedResource, Image
from ._listing import MCPTool
from ._oauth import oauth
from ._prompts import Prompt, prompt
from ._request import MCPRequest
from ._resources import Resource, resource
from ._server import server
from ._toolset import MCPToolset

__all__ = [
    "Audio", "EmbeddedResource", "Image", "MCPRequest", "MCPTool", "MCPToolset", "Prompt", "Resource", "oauth",
    "prompt", "resource", "server",
]  # fmt: skip
