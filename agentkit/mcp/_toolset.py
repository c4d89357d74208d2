"""`MCPToolset`: an MCP server's tools, as tools of an agent."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
import sys
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus

from .._redact import Redactor, public_url, redacted_args
from .._tool_runner import MAX_IMAGE_BYTES, MAX_IMAGES, WithImages
from ..exceptions import AuthorizationError, ToolError, ToolsetError, UserError
from ..tools import SchemaTool, Tool, valid_name
from ._auth import ServerAuth, auth_failure, secrets_of
from ._holding import Holder, watched
from ._outputs import check_outputs_safely

try:
    import httpx2
    from mcp import Client, StdioServerParameters
    from mcp.client.sse import sse_client
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.client.subscriptions import ListenNotSupportedError
    from mcp.shared._httpx_utils import create_mcp_http_client
    from mcp.shared.exceptions import MCPError
    from mcp.types import (
        CONNECTION_CLOSED,
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
        max_image_bytes: int | None = MAX_IMAGE_BYTES,
        max_images: int | None = MAX_IMAGES,
        sse: bool = False,
        auth: Any = None,
    ) -> None:
        self._server = server
        self._sse = sse
        self._headers = dict(headers or {})
        self._auth = auth
        # What goes with the requests to the server: the headers and auth= (see ServerAuth).
        self._server_auth = (
            None if isinstance(server, StdioServerParameters) else ServerAuth(server, self._headers, auth)
        )
        secret_headers = {**self._headers, **({"Authorization": f"Bearer {auth}"} if isinstance(auth, str) else {})}
        self._redact = (
            Redactor.for_command(server.args, server.env)
            if isinstance(server, StdioServerParameters)
            else Redactor.for_url(server, secret_headers, more=lambda: secrets_of(auth))
        )
        self.prefix = prefix
        """Put before each tool's name, with an underscore: ``prefix_name``."""
        self.include = None if include is None else _names("include", include)
        """The server's tool names to offer (None: all of them)."""
        self.exclude = _names("exclude", exclude or ())
        """The server's tool names to leave out."""
        self.requires_approval: bool | list[str] = (
            requires_approval if isinstance(requires_approval, bool) else _names("requires_approval", requires_approval)
        )
        """True (every tool), or the server's tool names whose calls wait for the caller's approval."""
        self.connect_timeout = connect_timeout
        """Seconds to start the server and finish the handshake before `ToolsetError`."""
        self.max_image_bytes = _limit("max_image_bytes", max_image_bytes, least=1)
        """The most bytes an image of a result may have to reach the model (None: no limit)."""
        self.max_images = _limit("max_images", max_images, least=0)
        """The most images of one result that reach the model (None: no limit)."""
        self._holder: Holder[_Connection] | None = None
        self._reconnecting: anyio.Lock | None = None
        self._mode: Literal["auto", "legacy"] = "auto"  # "legacy": the pre-2026 handshake (tests use it)

    @property
    def approval(self) -> set[str]:
        """The server's tool names listed in `requires_approval`."""
        return set() if isinstance(self.requires_approval, bool) else set(self.requires_approval)

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
        max_image_bytes: int | None = MAX_IMAGE_BYTES,
        max_images: int | None = MAX_IMAGES,
    ) -> MCPToolset:
        """A server run as a child process, spoken to over its stdin and stdout.

        `env` is added to a minimal default environment (the SDK's: PATH, HOME and the like).
        """
        params = StdioServerParameters(
            command=command, args=list(args), env=dict(env) if env else None, cwd=Path(cwd) if cwd else None
        )
        return cls(params, prefix=prefix, include=include, exclude=exclude, requires_approval=requires_approval,
                   connect_timeout=connect_timeout, max_image_bytes=max_image_bytes, max_images=max_images)  # fmt: skip

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        prefix: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        requires_approval: bool | Iterable[str] = False,
        connect_timeout: float = 30.0,
        max_image_bytes: int | None = MAX_IMAGE_BYTES,
        max_images: int | None = MAX_IMAGES,
    ) -> MCPToolset:
        """A server at a Streamable HTTP endpoint (``http://host:port/mcp``); `headers` go with
        every request to that server (an ``Authorization`` header, say) and nowhere else.

        `auth`: a bearer token (sent as ``Authorization: Bearer TOKEN`` to that server only), an
        ``httpx.Auth``, or the MCP SDK's auth provider (``agentkit.mcp.oauth(url)``, or one of the
        SDK's own, as it is). A refusal (HTTP 401/403) raises `AuthorizationError`."""
        return cls(url, headers=headers, auth=auth, prefix=prefix, include=include, exclude=exclude,
                   requires_approval=requires_approval, connect_timeout=connect_timeout,
                   max_image_bytes=max_image_bytes, max_images=max_images)  # fmt: skip

    @classmethod
    def sse(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        prefix: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        requires_approval: bool | Iterable[str] = False,
        connect_timeout: float = 30.0,
        max_image_bytes: int | None = MAX_IMAGE_BYTES,
        max_images: int | None = MAX_IMAGES,
    ) -> MCPToolset:
        """A server on the legacy HTTP+SSE transport (``http://host:port/sse``), for servers that
        do not speak Streamable HTTP yet. `headers` and `auth` as for `http`."""
        return cls(url, headers=headers, auth=auth, prefix=prefix, include=include, exclude=exclude,
                   requires_approval=requires_approval, connect_timeout=connect_timeout,
                   max_image_bytes=max_image_bytes, max_images=max_images, sse=True)  # fmt: skip

    def __repr__(self) -> str:
        if isinstance(self._server, StdioServerParameters):
            where = shlex.join([self._server.command, *redacted_args(self._server.args)])
        else:
            where = public_url(self._server)
        return f"MCPToolset({where!r})"

    # --- the connection the user holds ---------------------------------------------------------

    async def __aenter__(self) -> MCPToolset:
        if self._holder is not None:
            raise UserError(f"{self!r} is already open")
        # The held connection lives in a task of its own, outside the caller's task group: the
        # toolset may be left from another task than the one that entered it (a fixture, an
        # exit stack closed at shutdown) without tripping over a cancel scope.
        holder = self._holder = Holder(self._connect)
        self._reconnecting = anyio.Lock()
        try:
            await holder.open()
        except BaseException:
            self._holder = None
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        holder, self._holder = self._holder, None
        if holder is not None:
            await holder.close()

    @property
    def _shared(self) -> _Connection | None:
        """The entered toolset's connection (None when not entered)."""
        return None if self._holder is None else self._holder.connection

    async def _held(self) -> _Connection:
        """The entered toolset's connection; connected again first if the server was lost."""
        holder = self._holder
        assert holder is not None and self._reconnecting is not None
        async with self._reconnecting:  # concurrent runs connect again once
            holder = self._holder
            if holder is None:
                raise ToolsetError(f"{self!r} was closed")
            if holder.connection is not None and not holder.connection.lost:
                return holder.connection
            logger.info("%r: connecting again (the server was lost)", self)
            fresh = Holder(self._connect)
            connection = await fresh.open()  # a failure fails this run; the next one tries again
            if self._holder is not holder:  # left (`__aexit__`) meanwhile
                await fresh.close()
                raise ToolsetError(f"{self!r} was closed")
            self._holder = fresh
        await holder.close()
        return connection

    async def _held_tools(self) -> list[Tool[Any, Any]]:
        connection = await self._held()
        try:
            return await connection.tools()
        except ToolsetError:
            if not connection.lost:
                raise
        # Lost while listing its tools (no call of this run went out yet): connect again now.
        return await (await self._held()).tools()

    async def list_tools(self) -> list[Tool[Any, Any]]:
        """The tools as the model sees them (after prefix, include and exclude); inside ``async with``."""
        if self._holder is None:
            raise UserError(f"list_tools() needs an open toolset: use `async with {self!r}:` first")
        return await self._held_tools()

    # --- what a run asks for ----------------------------------------------------------------

    @asynccontextmanager
    async def tools_for_run(self) -> AsyncIterator[Sequence[Tool[Any, Any]]]:
        """The tools for one run: the held connection's, or a connection of the run's own."""
        if self._holder is not None:
            yield await self._held_tools()
            return
        async with self._connect() as connection:
            yield await connection.tools()

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[_Connection]:
        # The SDK's client lives in a task of its own (`serve`), so that it is entered and left in
        # one task whichever tasks call its tools.
        connection = _Connection(self)
        own: BaseException | None = None  # raised here or by the body: what the caller must see
        try:
            async with anyio.create_task_group() as tg:
                try:
                    with anyio.fail_after(self.connect_timeout):
                        await tg.start(connection.serve)
                except TimeoutError:
                    own = ToolsetError(f"{self!r} did not finish connecting in {self.connect_timeout} s")
                    raise own from None
                except Exception as e:
                    own = self._auth_failure(e, repr(self)) or ToolsetError(
                        f"{self!r} could not be connected: {self._describe(e)}"
                    )
                    raise own from self._redact.cause(e)
                try:
                    yield connection
                except BaseException as e:
                    own = e
                    raise
                finally:
                    connection.closing.set()
        except BaseException as e:
            inner = getattr(e, "exceptions", None)
            if own is None or e is own or not (isinstance(inner, tuple) and len(inner) == 1 and inner[0] is own):
                raise
        # Outside the except block: the caller sees its own exception, not the task group's
        # wrapping of it (and no "during handling" chain).
        if own is not None:
            raise own

    @property
    def _has_auth(self) -> bool:
        return self._auth is not None or any(name.lower() == "authorization" for name in self._headers)

    def _auth_failure(self, e: BaseException, where: str) -> AuthorizationError | None:
        if self._server_auth is None:
            return None
        return auth_failure(e, self._server_auth, where, has_auth=self._has_auth, redact=self._redact)

    def _describe(self, e: BaseException) -> str:
        """`e` for a message or a log, without this connection's secrets; a failed authorization said as one."""
        failed = self._auth_failure(e, "the server")
        return str(failed) if failed is not None else self._redact(_describe(e))

    def _transport(self) -> Any:
        if isinstance(self._server, StdioServerParameters):
            return stdio_client(self._server, errlog=_server_stderr())
        if self._sse:
            return sse_client(self._server, auth=self._server_auth)
        return _http_with_auth(self._server, self._server_auth)


@asynccontextmanager
async def _http_with_auth(url: str, auth: httpx2.Auth | None) -> AsyncIterator[Any]:
    # The headers go through `auth` (ServerAuth), not on the client: a client's headers would go with
    # every request it sends, an OAuth flow's requests to other hosts included.
    async with (
        create_mcp_http_client(auth=auth) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


class _Connection:
    """One live client session and the tool list it last fetched."""

    def __init__(self, toolset: MCPToolset) -> None:
        self.toolset = toolset
        self.client: Client | None = None
        self.closing = anyio.Event()
        self.lost = False
        """Whether the server went away while the connection was open."""
        self._tools: list[Tool[Any, Any]] | None = None
        self._generation = 0  # counts the server's "the list changed"
        self._lock = anyio.Lock()

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        client = Client(
            watched(self.toolset._transport(), self.lose),
            message_handler=self._on_message,
            cache=None,
            client_info=_CLIENT_INFO,
            mode=self.toolset._mode,
        )
        started = False
        try:
            async with client, anyio.create_task_group() as tg:
                check_outputs_safely(client.session)
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
            self.lose(self.toolset._describe(e))
        finally:
            self.client = None

    def lose(self, reason: str = "the server closed the connection") -> None:
        """Mark the connection lost (the server died or dropped it) and close it; an entered
        toolset connects again at the next run. Nothing when it is being closed anyway."""
        if self.lost or self.closing.is_set():
            return
        self.lost = True
        logger.info("%r lost its connection (%s)", self.toolset, reason)
        self.closing.set()

    async def _listen(self, client: Client) -> None:
        # Servers on the 2026-07-28 protocol tell of a changed tool list on a subscription, which
        # is opened again when it drops; older ones send a notification (`_on_message`).
        delay = 0.5
        while True:
            try:
                async with client.listen(tools_list_changed=True) as changes:
                    delay = 0.5
                    async for _ in changes:
                        self._changed()
            except ListenNotSupportedError:
                return
            except Exception as e:
                said = self.toolset._describe(e)
                logger.info("%r: the tool-list subscription ended (%s); opening it again", self.toolset, said)
            self._changed()  # changes while it was down went unheard
            await anyio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _changed(self) -> None:
        logger.info("%r: the server's tool list changed", self.toolset)
        self._generation += 1
        self._tools = None

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            self._changed()
        await anyio.lowlevel.checkpoint()

    async def tools(self) -> list[Tool[Any, Any]]:
        async with self._lock:
            if self._tools is not None:
                return self._tools
            generation = self._generation
            fetched = await self._fetch()
            if generation == self._generation:  # no change was announced while fetching
                self._tools = fetched
            return fetched

    async def _fetch(self) -> list[Tool[Any, Any]]:
        if self.client is None:
            raise ToolsetError(f"{self.toolset!r} is closed")
        listed = []
        cursor: str | None = None
        limit = self.toolset.connect_timeout
        try:
            with anyio.fail_after(limit):
                while True:
                    page = await self.client.list_tools(cursor=cursor)
                    listed.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
        except TimeoutError:
            raise ToolsetError(f"{self.toolset!r} did not list its tools in {limit} s") from None
        except Exception as e:
            said = self.toolset._describe(e)
            if _connection_lost(e):
                self.lose(said)
            raise ToolsetError(f"{self.toolset!r} could not list its tools: {said}") from self.toolset._redact.cause(e)
        ts = self.toolset
        names = {t.name for t in listed}
        for option, wanted in (("include", ts.include), ("exclude", ts.exclude), ("requires_approval", ts.approval)):
            missing = sorted(set(wanted or ()) - names)
            if missing:
                raise UserError(
                    f"{ts!r}: {option} names {', '.join(map(repr, missing))}, which the server does not have "
                    f"(it has {', '.join(sorted(names)) or 'no tools'})"
                )
        offered = [t for t in listed if (ts.include is None or t.name in ts.include) and t.name not in ts.exclude]
        tools: dict[str, SchemaTool] = {}
        for t in offered:
            name = model_name(f"{ts.prefix}_{t.name}" if ts.prefix else t.name)
            if name in tools:  # a server that lists one name twice: which tool a call meant is unknown
                logger.warning("the MCP server %s lists two tools named %r: the first is offered", self, t.name)
                continue
            tools[name] = SchemaTool(
                name=name,
                description=t.description or "",
                parameters=t.input_schema,
                call=self._caller(t.name),  # by the server's own name
                requires_approval=ts.requires_approval is True or t.name in ts.approval,
                server_name=t.name,
            )
        return list(tools.values())

    def _caller(self, name: str) -> Any:
        async def call(arguments: dict[str, Any]) -> Any:
            client = self.client
            if client is None or self.lost:
                raise ToolError(f"the MCP server of {name} is no longer connected")
            try:
                result = await client.call_tool(name, arguments)
            except Exception as e:
                if _connection_lost(e):  # not retried: the call may have had its effect
                    self.lose(self.toolset._describe(e))
                raise ToolError(
                    f"the MCP server failed on {name}: {self.toolset._describe(e)}"
                ) from self.toolset._redact.cause(e)
            return result_value(result, max_image_bytes=self.toolset.max_image_bytes,
                                max_images=self.toolset.max_images)  # fmt: skip

        return call


def result_value(
    result: CallToolResult, *, max_image_bytes: int | None = MAX_IMAGE_BYTES, max_images: int | None = MAX_IMAGES
) -> Any:
    """What the model reads of an MCP result: its text (structured content as JSON when it has no
    text; a short placeholder for images, audio and links), and its images as `WithImages` parts
    (the loop sends them to a model that takes images, within `max_image_bytes` and `max_images`).
    An ``isError`` result raises `ToolError`."""
    parts: list[str] = []
    images: list[dict[str, Any]] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, (ImageContent, AudioContent)):
            kind = "image" if isinstance(block, ImageContent) else "audio"
            parts.append(f"[{kind}: {block.mime_type}, {_decoded_size(block.data)} bytes]")
            if isinstance(block, ImageContent):
                url = f"data:{block.mime_type};base64,{block.data}"
                images.append({"type": "image_url", "image_url": {"url": url}})
        elif isinstance(block, ResourceLink):
            parts.append(f"[resource: {block.uri}]")
        elif isinstance(block, EmbeddedResource):
            text = getattr(block.resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource: {block.resource.uri}]")
    if result.is_error:
        raise ToolError("\n".join(parts) or "the tool failed (the server gave no message)")
    if images:
        return WithImages(
            text="\n".join(parts), images=tuple(images), max_image_bytes=max_image_bytes, max_images=max_images
        )
    if parts:
        return "\n".join(parts)
    if result.structured_content is not None:
        return json.loads(json.dumps(result.structured_content))
    return ""


def model_name(name: str) -> str:
    """`name` as the model may write it (``^[a-zA-Z0-9_-]{1,64}$``, what OpenAI-style servers
    accept): a valid name is kept; another has each other character made an underscore, is cut
    to 55, and ends with ``_`` and 8 hex digits of its hash. The mapping depends on the name
    alone: a call a model wrote (and a person approved) names the same server tool after the
    server's list changes."""
    if valid_name(name) == name:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{valid_name(name)[:55]}_{digest}"


def _connection_lost(e: BaseException) -> bool:
    """Whether `e` says the connection is gone (a closed or broken stream, an end of file, the
    SDK's "Connection closed", an HTTP session the server forgot), rather than that one call
    failed: a server's error answer, or a result the SDK refused (one that breaks its tool's
    output schema raises RuntimeError), leaves the connection and the other calls on it alone."""
    seen: set[int] = set()
    cause: BaseException | None = _single(e)
    while cause is not None and id(cause) not in seen:  # a transport error may be wrapped
        seen.add(id(cause))
        if isinstance(cause, MCPError):
            return cause.code == CONNECTION_CLOSED or _GONE_SESSION.search(cause.message) is not None
        if isinstance(cause, _TRANSPORT_LOST) or _http_transport_error(cause):
            return True
        cause = cause.__cause__
    return False


_TRANSPORT_LOST = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, EOFError, ConnectionError)


def _http_transport_error(e: BaseException) -> bool:
    """An HTTP client's transport error (httpx's `TransportError`, or the flavour the SDK ships),
    told by name: which HTTP library the SDK uses is its own business."""
    return any(c.__name__ == "TransportError" and c.__module__.startswith("httpx") for c in type(e).__mro__)
_GONE_SESSION = re.compile(r"\bsession\b.*\b(not found|terminated|expired|unknown)\b", re.IGNORECASE)


def _limit(option: str, value: int | None, *, least: int) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
        raise UserError(f"{option} wants a whole number of at least {least}, or None for no limit; not {value!r}")
    return value


def _names(option: str, names: Iterable[str]) -> list[str]:
    if isinstance(names, str):  # a str is an iterable of one-letter names: never what was meant
        raise UserError(f"{option} wants a list of tool names, not the string {names!r}")
    return list(names)


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


def _server_stderr() -> Any:
    """Where a stdio server's stderr goes: this process's stderr as it is now, when it is a real
    file (the SDK's default is the one it saw when it was imported, maybe a test's stand-in)."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return sys.__stderr__
    return sys.stderr

