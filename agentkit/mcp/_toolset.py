"""`MCPToolset`: an MCP server's tools, as tools of an agent."""

from __future__ import annotations

import json
import logging
import os
import shlex
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from .._toolsets import SchemaTool
from ..exceptions import ToolError, ToolsetError, UserError
from ..tools import Tool

try:
    import httpx2
    from mcp import Client, StdioServerParameters
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.types import (
        AudioContent,
        CallToolResult,
        EmbeddedResource,
        ImageContent,
        Implementation,
        ResourceLink,
        TextContent,
        ToolListChangedNotification,
    )
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

logger = logging.getLogger("agentkit")

_CLIENT_INFO = Implementation(name="agentkit", version="0.1.0")


class MCPToolset:
    """An MCP server's tools for an `Agent`: ``Agent(model, [my_tool, MCPToolset.stdio(...)])``.

    Entered (``async with toolset:``), it keeps one connection for every run until it exits;
    otherwise each run connects before its first model call and disconnects when it ends, also
    on error or cancellation. The tool list is fetched once per connection and again after the
    server says it changed. Make one with `stdio`, `http` or `sse`.
    """

    def __init__(
        self,
        server: StdioServerParameters | str,
        *,
        headers: Mapping[str, str] | None = None,
        prefix: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        requires_approval: bool | Iterable[str] = False,
        connect_timeout: float = 30.0,
        sse: bool = False,
    ) -> None:
        self._server = server
        self._sse = sse
        self._headers = dict(headers or {})
        self.prefix = prefix
        """Put before each tool's name, with an underscore: ``prefix_name``."""
        self.include = None if include is None else list(include)
        """The server's tool names to offer (None: all of them)."""
        self.exclude = list(exclude or ())
        """The server's tool names to leave out."""
        self.requires_approval = requires_approval if isinstance(requires_approval, bool) else set(requires_approval)
        """True (every tool), or the server's tool names whose calls wait for the caller's approval."""
        self.connect_timeout = connect_timeout
        """Seconds to start the server and finish the handshake before `ToolsetError`."""
        self._shared: _Connection | None = None
        self._exit: AbstractAsyncContextManager[_Connection] | None = None

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        prefix: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        requires_approval: bool | Iterable[str] = False,
        connect_timeout: float = 30.0,
    ) -> MCPToolset:
        """A server run as a child process, spoken to over its stdin and stdout.

        `env` is added to a minimal default environment (the SDK's: PATH, HOME and the like).
        """
        params = StdioServerParameters(
            command=command, args=list(args), env=dict(env) if env else None, cwd=Path(cwd) if cwd else None
        )
        return cls(params, prefix=prefix, include=include, exclude=exclude, requires_approval=requires_approval,
                   connect_timeout=connect_timeout)  # fmt: skip

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        prefix: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        requires_approval: bool | Iterable[str] = False,
        connect_timeout: float = 30.0,
    ) -> MCPToolset:
        """A server at a Streamable HTTP endpoint (``http://host:port/mcp``); `headers` go with
        every request (an ``Authorization`` header, say) to that URL only."""
        return cls(url, headers=headers, prefix=prefix, include=include, exclude=exclude,
                   requires_approval=requires_approval, connect_timeout=connect_timeout)  # fmt: skip

    @classmethod
    def sse(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        prefix: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        requires_approval: bool | Iterable[str] = False,
        connect_timeout: float = 30.0,
    ) -> MCPToolset:
        """A server on the legacy HTTP+SSE transport (``http://host:port/sse``), for servers that
        do not speak Streamable HTTP yet."""
        return cls(url, headers=headers, prefix=prefix, include=include, exclude=exclude,
                   requires_approval=requires_approval, connect_timeout=connect_timeout, sse=True)  # fmt: skip

    def __repr__(self) -> str:
        if isinstance(self._server, StdioServerParameters):
            where = shlex.join([self._server.command, *self._server.args])
        else:
            where = self._server
        return f"MCPToolset({where!r})"

    # --- the connection the user holds ---------------------------------------------------------

    async def __aenter__(self) -> MCPToolset:
        if self._exit is not None:
            raise UserError(f"{self!r} is already open")
        self._exit = self._connect()
        self._shared = await self._exit.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        exit, self._exit, self._shared = self._exit, None, None
        if exit is not None:
            await exit.__aexit__(*exc_info)

    async def list_tools(self) -> list[Tool[Any, Any]]:
        """The tools as the model sees them (after prefix, include and exclude); inside ``async with``."""
        if self._shared is None:
            raise UserError(f"list_tools() needs an open toolset: use `async with {self!r}:` first")
        return await self._shared.tools()

    # --- what a run asks for ----------------------------------------------------------------

    @asynccontextmanager
    async def tools_for_run(self) -> AsyncIterator[Sequence[Tool[Any, Any]]]:
        """The tools for one run: the held connection's, or a connection of the run's own."""
        if self._shared is not None:
            yield await self._shared.tools()
            return
        async with self._connect() as connection:
            yield await connection.tools()

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[_Connection]:
        # The SDK's client lives in a task of its own, so that it is entered and left in the same
        # task whoever opens the toolset and whichever tasks call its tools.
        connection = _Connection(self)
        try:
            async with anyio.create_task_group() as tg:
                try:
                    with anyio.fail_after(self.connect_timeout):
                        await tg.start(connection.serve)
                except TimeoutError:
                    raise ToolsetError(f"{self!r} did not finish connecting in {self.connect_timeout} s") from None
                except Exception as e:
                    raise ToolsetError(f"{self!r} could not be connected: {_describe(e)}") from e
                try:
                    yield connection
                finally:
                    connection.closing.set()
        except BaseException as e:
            single = _single(e)
            if single is e:
                raise
            failure = single
        else:
            return
        # Outside the except block: the caller sees its own exception, not a group around it.
        raise failure

    def _transport(self) -> Any:
        if self._sse:
            assert isinstance(self._server, str)
            return sse_client(self._server, headers=self._headers or None)
        if isinstance(self._server, StdioServerParameters) or not self._headers:
            return self._server
        return _http_with_headers(self._server, self._headers)


@asynccontextmanager
async def _http_with_headers(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


class _Connection:
    """One live client session and the tool list it last fetched."""

    def __init__(self, toolset: MCPToolset) -> None:
        self.toolset = toolset
        self.client: Client | None = None
        self.closing = anyio.Event()
        self._tools: list[Tool[Any, Any]] | None = None
        self._lock = anyio.Lock()

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        client = Client(
            self.toolset._transport(), message_handler=self._on_message, cache=None, client_info=_CLIENT_INFO
        )
        started = False
        try:
            async with client, anyio.create_task_group() as tg:
                self.client = client
                tg.start_soon(self._listen, client)
                task_status.started()
                started = True
                await self.closing.wait()
                tg.cancel_scope.cancel()
        except Exception as e:
            if not started:
                raise
            # The server went away while open: calls already fail with a message; nothing to raise here.
            logger.info("%r closed with %s", self.toolset, _describe(e))
        finally:
            self.client = None

    async def _listen(self, client: Client) -> None:
        # Servers on the 2026-07-28 protocol tell of a changed tool list on a subscription;
        # older ones send a notification (`_on_message`).
        try:
            async with client.listen(tools_list_changed=True) as changes:
                async for _ in changes:
                    logger.info("%r: the server's tool list changed", self.toolset)
                    self._tools = None
        except Exception as e:
            logger.debug("%r: no tool-list subscription (%s)", self.toolset, _describe(e))

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            logger.info("%r: the server's tool list changed", self.toolset)
            self._tools = None
        await anyio.lowlevel.checkpoint()

    async def tools(self) -> list[Tool[Any, Any]]:
        async with self._lock:
            if self._tools is None:
                self._tools = await self._fetch()
            return self._tools

    async def _fetch(self) -> list[Tool[Any, Any]]:
        if self.client is None:
            raise ToolsetError(f"{self.toolset!r} is closed")
        listed = []
        cursor: str | None = None
        try:
            while True:
                page = await self.client.list_tools(cursor=cursor)
                listed.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
        except Exception as e:
            raise ToolsetError(f"{self.toolset!r} could not list its tools: {_describe(e)}") from e
        ts = self.toolset
        names = {t.name for t in listed}
        missing = sorted(set(ts.include or ()) - names)
        if missing:
            raise UserError(f"{ts!r} has no tool named {', '.join(map(repr, missing))}; it has {sorted(names)}")
        return [
            SchemaTool(
                name=f"{ts.prefix}_{t.name}" if ts.prefix else t.name,
                description=t.description or "",
                parameters=t.input_schema,
                call=self._caller(t.name),
                requires_approval=ts.requires_approval is True
                or (not isinstance(ts.requires_approval, bool) and t.name in ts.requires_approval),
            )
            for t in listed
            if (ts.include is None or t.name in ts.include) and t.name not in ts.exclude
        ]

    def _caller(self, name: str) -> Any:
        async def call(arguments: dict[str, Any]) -> Any:
            client = self.client
            if client is None:
                raise ToolError(f"the MCP server of {name} is no longer connected")
            try:
                result = await client.call_tool(name, arguments)
            except Exception as e:
                raise ToolError(f"the MCP server failed on {name}: {_describe(e)}") from e
            return result_value(result)

        return call


def result_value(result: CallToolResult) -> Any:
    """What the model reads of an MCP result: its text (structured content as JSON when it has no
    text; a short placeholder for images, audio and links). An ``isError`` result raises `ToolError`."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, (ImageContent, AudioContent)):
            kind = "image" if isinstance(block, ImageContent) else "audio"
            parts.append(f"[{kind}: {block.mime_type}, {_decoded_size(block.data)} bytes, not shown]")
        elif isinstance(block, ResourceLink):
            parts.append(f"[resource: {block.uri}]")
        elif isinstance(block, EmbeddedResource):
            text = getattr(block.resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource: {block.resource.uri}]")
    if result.is_error:
        raise ToolError("\n".join(parts) or "the tool failed (the server gave no message)")
    if parts:
        return "\n".join(parts)
    if result.structured_content is not None:
        return json.loads(json.dumps(result.structured_content))
    return ""


def _decoded_size(data: str) -> int:
    return len(data) * 3 // 4 - data[-2:].count("=")


def _single(e: BaseException) -> BaseException:
    """The one exception inside (nested) exception groups of one, or `e`."""
    inner = getattr(e, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1:
        e = inner[0]
        inner = getattr(e, "exceptions", None)
    return e


def _describe(e: BaseException) -> str:
    e = _single(e)
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
