"""`server`: agentkit tools served to any MCP client, with their schemas and checks."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import anyio

from .. import __version__
from .._context import RunContext
from .._events import ToolCall
from .._messages import Usage
from .._tool_runner import Approval, ask, render_result
from ..exceptions import ToolError, UserError
from ..tools import Tool, tool
from ._approval import ask_user
from ._content import content_blocks
from ._event_store import MemoryEventStore
from ._prompts import Prompt, Prompts
from ._request import InputNeeded, MCPRequest, set_level
from ._resources import Resource, Resources
from ._structured import Structured, structured_output

try:
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server
    from mcp.types import (
        CallToolRequestParams,
        CallToolResult,
        CompleteRequestParams,
        CompleteResult,
        Completion,
        EmptyResult,
        InputRequiredResult,
        ListToolsResult,
        PromptReference,
        SetLevelRequestParams,
        TextContent,
        ToolAnnotations,
    )
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
    instructions: str | None = None,
    resources: Iterable[Resource] = (),
    prompts: Iterable[Prompt | Callable[..., Any]] = (),
) -> Server[Any]:
    """An MCP server (the SDK's low-level `Server`) serving `tools`.

    Input schemas are exactly `Tool.parameters`; arguments are checked as the agent loop checks
    them, and bad arguments, unknown tools and exceptions come back as ``isError`` results whose
    text says what went wrong. A tool may return `Image`, `Audio`, `EmbeddedResource` or a list
    mixing them with text; a tool whose return type is a pydantic model, a dataclass or a
    TypedDict is listed with an ``outputSchema`` and answers with ``structuredContent`` too. A
    tool's `title` and `annotations` are listed with it. A tool that takes a `RunContext` gets
    one whose `.mcp` is the request (`MCPRequest`: progress, logging, sampling, elicitation).
    A tool with ``requires_approval=True`` asks the client's user first (an elicitation) and
    runs only when they approve; a client that cannot ask gets an ``isError`` result and the
    tool does not run. `approve` (an Agent's hook: sync or async, True runs the call, False or a
    reason denies it) decides every call before it runs (before the user is asked), within
    `approval_timeout` seconds (None: no bound; the same bound holds for the user's answer); a
    call it denies, or that it fails on, is an ``isError`` result saying so, and does not run.
    `resources` (made with `resource`) and `prompts` (made with `prompt`, or plain functions)
    are offered too, with completion of prompt arguments typed `Literal` or `Enum`.
    Serve it with `run_stdio`, `run_http` or the SDK (``streamable_http_app()``).
    Raises `UserError` for two tools (or prompts) with one name, or two resources with one URI.
    """
    by_name: dict[str, Tool[Any, Any]] = {}
    for t in tools:
        t = t if isinstance(t, Tool) else tool(t)
        if t.name in by_name:
            raise UserError(f"two tools are named {t.name!r}")
        by_name[t.name] = t
    outputs = {t.name: structured_output(t) for t in by_name.values()}
    listing = ListToolsResult(tools=[_listed(t, outputs[t.name]) for t in by_name.values()])

    async def list_tools(ctx: Any, params: Any) -> ListToolsResult:
        return listing

    async def set_logging_level(ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
        set_level(ctx, params.level)
        return EmptyResult()

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
    ) -> CallToolResult | InputRequiredResult:
        found = by_name.get(params.name)
        if found is None:
            return _error(f"there is no tool named {params.name!r}; the tools are: {', '.join(by_name) or 'none'}")
        arguments = params.arguments or {}
        # The hooks and the tool see the call as an agent's would; an MCP call has no id of its own.
        call = ToolCall(id=f"mcp-{next(_numbers)}", name=found.name,
                        arguments=json.dumps(arguments, ensure_ascii=False, default=str))  # fmt: skip
        if approve is not None or found.requires_approval:
            try:  # decided on arguments that will be used, not on ones the tool would refuse
                found.validate(arguments)
            except ToolError as e:
                return _error(str(e))
        if approve is not None:
            refused = await _decide(approve, approval_timeout, call)
            if refused is not None:
                return _error(f"the tool {found.name} was not run: {refused}")
        request = MCPRequest(ctx, params)
        try:
            if found.requires_approval:
                refused = await ask_user(request, call, approval_timeout)
                if refused is not None:
                    return _error(f"the tool {found.name} was not run: {refused}")
            context = None
            if found.takes_context:
                context = RunContext(deps=None, usage=Usage(), turn=0, messages=[], call=call, mcp=request)
            value = await found.acall(arguments, context)
        except InputNeeded as e:  # a question for a client of the 2026-07-28 protocol: it calls again
            return e.result
        except ToolError as e:  # bad arguments, or a tool's own message for the model
            return _error(str(e))
        except Exception as e:
            return _error(f"the tool {found.name} raised {type(e).__name__}: {e}")
        try:
            return _result(value, outputs[found.name])
        except Exception as e:  # a __str__ that raises, a value that is not the declared type
            return _error(f"the tool {found.name} returned a value that cannot be sent ({e})")

    offered, templates = Resources(resources), Prompts(prompts)

    async def complete(ctx: Any, params: CompleteRequestParams) -> CompleteResult:
        if isinstance(params.ref, PromptReference):
            return templates.complete(params.ref.name, params.argument.name, params.argument.value)
        return CompleteResult(completion=Completion(values=[]))  # a template's variables are free text

    made = Server(
        name,
        version=__version__,
        instructions=instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=offered.list if offered else None,
        on_list_resource_templates=offered.list_templates if offered else None,
        on_read_resource=offered.read if offered else None,
        on_subscribe_resource=offered.subscribe if offered else None,
        on_unsubscribe_resource=offered.subscribe if offered else None,
        on_list_prompts=templates.list if templates else None,
        on_get_prompt=templates.get if templates else None,
        on_completion=complete if offered or templates else None,
    )
    # Registered, not passed to Server(): the SDK warns about logging's deprecation in the
    # 2026-07-28 protocol at construction, while 2025 clients (most) still set the level.
    made.add_request_handler("logging/setLevel", SetLevelRequestParams, set_logging_level)
    return made


def _listed(t: Tool[Any, Any], output: Structured | None) -> MCPTool:
    return MCPTool(
        name=t.name,
        title=t.title,
        description=t.description or None,
        input_schema=t.parameters,
        output_schema=output.schema if output is not None else None,
        annotations=ToolAnnotations.model_validate(t.annotations) if t.annotations else None,
    )


def _result(value: Any, output: Structured | None) -> CallToolResult:
    if output is not None:
        data, text = output.dump(value)
        return CallToolResult(content=[TextContent(text=text)], structured_content=data)
    blocks = content_blocks(value)
    if blocks is not None:
        return CallToolResult(content=blocks)
    return CallToolResult(content=[TextContent(text=render_result(value))])


async def _decide(approve: Approval, timeout: float | None, call: ToolCall) -> str | None:
    """None when `approve` lets the call run; otherwise why not."""
    with anyio.move_on_after(timeout) as scope:
        try:
            verdict = await ask(approve, call)
        except Exception as e:
            logger.info("the approval hook raised %s on an MCP call of %s", type(e).__name__, call.name)
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
    """The Starlette app serving Streamable HTTP at ``/mcp``: SSE streams that a client of
    2025-11-25 or later can resume after a drop (``Last-Event-ID``, from a bounded memory of
    recent events), and, on a loopback `host`, the SDK's DNS-rebinding protection (the Host
    and Origin headers must name a loopback address)."""
    return mcp_server.streamable_http_app(host=host, event_store=MemoryEventStore(), retry_interval=RETRY_MS)


RETRY_MS = 1000
"""How long a client waits before reconnecting to a dropped SSE stream (the ``retry`` field)."""


def run_http(mcp_server: Server[Any], host: str, port: int) -> None:
    """Serve Streamable HTTP at ``http://host:port/mcp`` until interrupted (see `http_app`)."""
    import uvicorn

    uvicorn.run(http_app(mcp_server, host), host=host, port=port, log_level="warning")
