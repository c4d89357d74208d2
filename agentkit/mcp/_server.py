"""`server`: agentkit tools served to any MCP client, with their schemas and checks."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable
from typing import Any

import anyio

from .. import __version__
from .._events import ToolCall
from .._tool_runner import Approval, ask, render_result
from ..exceptions import ToolError, UserError
from ..tools import Tool, tool

try:
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server
    from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult, TextContent
    from mcp.types import Tool as MCPTool
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

logger = logging.getLogger("agentkit")
_numbers = itertools.count(1)


def server(
    tools: Iterable[Tool[Any, Any] | Any],
    *,
    name: str = "agentkit",
    approve: Approval | None = None,
    approval_timeout: float | None = None,
) -> Server[Any]:
    """An MCP server (the SDK's low-level `Server`) serving `tools`.

    Input schemas are exactly `Tool.parameters`; arguments are checked as the agent loop checks
    them, and bad arguments, unknown tools and exceptions come back as ``isError`` results whose
    text says what went wrong. A tool with ``requires_approval=True`` is listed, but its calls are
    refused (an ``isError`` result) and never run. `approve` (an Agent's hook: sync or async,
    True runs the call, False or a reason denies it) decides every other call before it runs,
    within `approval_timeout` seconds (None: no bound); a call it denies, or that it fails on, is
    an ``isError`` result saying so, and does not run. Serve it with `run_stdio` or the SDK
    (``streamable_http_app()``).
    Raises `UserError` for two tools with one name, or a tool that needs a `RunContext`.
    """
    by_name: dict[str, Tool[Any, Any]] = {}
    for t in tools:
        t = t if isinstance(t, Tool) else tool(t)
        if t.name in by_name:
            raise UserError(f"two tools are named {t.name!r}")
        if t.takes_context:
            raise UserError(f"the tool {t.name} takes a RunContext, which an MCP call does not have")
        by_name[t.name] = t
        if t.requires_approval:
            logger.warning("the tool %s needs approval: its MCP calls will be refused, never run", t.name)
    listing = ListToolsResult(
        tools=[
            MCPTool(name=t.name, description=t.description or None, input_schema=t.parameters) for t in by_name.values()
        ]
    )

    async def list_tools(ctx: Any, params: Any) -> ListToolsResult:
        return listing

    async def call_tool(ctx: Any, params: CallToolRequestParams) -> CallToolResult:
        found = by_name.get(params.name)
        if found is None:
            return _error(f"there is no tool named {params.name!r}; the tools are: {', '.join(by_name) or 'none'}")
        if found.requires_approval:
            # Nobody here can approve it: an MCP client is not the user, and may be anything.
            return _error(f"the tool {found.name} needs the user's approval, which this server cannot ask for: "
                          "it was not run")  # fmt: skip
        if approve is not None:
            try:  # the hook decides on arguments that will be used, not on ones the tool would refuse
                found.validate(params.arguments or {})
            except ToolError as e:
                return _error(str(e))
            refused = await _decide(approve, approval_timeout, found.name, params.arguments or {})
            if refused is not None:
                return _error(f"the tool {found.name} was not run: {refused}")
        try:
            value = await found.acall(params.arguments or {})
        except ToolError as e:  # bad arguments, or a tool's own message for the model
            return _error(str(e))
        except Exception as e:
            return _error(f"the tool {found.name} raised {type(e).__name__}: {e}")
        try:
            text = render_result(value)
        except Exception as e:  # a __str__ that raises
            return _error(f"the tool {found.name} returned a value that cannot be written as text ({e})")
        return CallToolResult(content=[TextContent(text=text)])

    return Server(name, version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)


async def _decide(approve: Approval, timeout: float | None, name: str, arguments: dict[str, Any]) -> str | None:
    """None when `approve` lets the call run; otherwise why not."""
    # The hook sees the call as an agent's hook does; an MCP call has no id of its own.
    call = ToolCall(id=f"mcp-{next(_numbers)}", name=name, arguments=json.dumps(arguments, ensure_ascii=False))
    with anyio.move_on_after(timeout) as scope:
        try:
            verdict = await ask(approve, call)
        except Exception as e:
            logger.info("the approval hook raised %s on an MCP call of %s", type(e).__name__, name)
            return "the approval check failed"
    if scope.cancelled_caught:
        return f"it was not approved in time ({timeout} s)"
    if verdict is True:
        return None
    return f"not approved: {verdict if isinstance(verdict, str) and verdict else 'denied'}"


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=text)], is_error=True)


def run_stdio(mcp_server: Server[Any]) -> None:
    """Serve over this process's stdin and stdout until the client closes them."""

    async def main() -> None:
        async with stdio_server() as (read, write):
            await mcp_server.run(read, write, mcp_server.create_initialization_options())

    anyio.run(main)


def http_app(mcp_server: Server[Any], host: str) -> Any:
    """The ASGI application that serves Streamable HTTP at ``/mcp`` (the SDK's; it guards
    against DNS rebinding when `host` is a loopback address)."""
    return mcp_server.streamable_http_app(host=host)
