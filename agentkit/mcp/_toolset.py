"""`MCPToolset`: an MCP server's tools, as tools of an agent."""

from __future__ import annotations

import enum
import logging
import os
import shlex
import sys
import warnings
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import anyio

from .._model import Message, Model, Usage
from .._redact import Redactor, public_url, redacted_args
from .._tool_runner import MAX_IMAGE_BYTES, MAX_IMAGES
from ..exceptions import AuthorizationError, ToolsetError, UserError
from ..tools import Tool
from ._asking import SAMPLING_MAX_TOKENS, Asking, Elicit, SamplingApproval, root_uri
from ._auth import ServerAuth, auth_failure, secrets_of
from ._connection import Connection
from ._failures import describe
from ._holding import Holder
from ._listing import all_pages
from ._reading import prompt_messages

try:
    import httpx2
    from mcp import StdioServerParameters
    from mcp.client.sse import sse_client
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client
    from mcp.shared.exceptions import MCPDeprecationWarning
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

logger = logging.getLogger("agentkit")


class NotGiven(enum.Enum):
    """An option left out (for `elicit`, not the same as None)."""

    NOT_GIVEN = "NOT_GIVEN"


NOT_GIVEN = NotGiven.NOT_GIVEN


class MCPToolset:
    """An MCP server's tools for an `Agent`: ``Agent(model, [my_tool, MCPToolset.stdio(...)])``.

    Entered (``async with toolset:``), it keeps one connection for every run until it exits;
    otherwise each run connects before its first model call and disconnects when it ends, also
    on error or cancellation. The tool list is fetched once per connection and again after the
    server says it changed. Make one with `stdio`, `http` or `sse`.

    What the server may ask of the client, each offered only when given: `sampling`, a `Model`
    answering its ``sampling/createMessage`` requests (counted in the run whose call is in
    flight, within its usage limits, its ``maxTokens`` capped at `sampling_max_tokens`;
    `sampling_approval(request)` may refuse one); `elicit`, an
    async ``(message, schema) -> dict | None`` answering its forms (None: declined; the answer
    gets the schema's defaults and is checked against it); `roots`, paths or ``file://`` URIs.
    `offer_resources` gives the model a ``read_resource`` tool; `requires_approval="destructive"`
    makes the tools that MCP's annotations call destructive wait for approval.
    """

    def __init__(
        self,
        server: StdioServerParameters | str,
        *,
        headers: Mapping[str, str] | None = None,
        prefix: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        requires_approval: bool | Iterable[str] | Literal["destructive"] = False,
        connect_timeout: float = 30.0,
        max_image_bytes: int | None = MAX_IMAGE_BYTES,
        max_images: int | None = MAX_IMAGES,
        sampling: Model | None = None,
        sampling_approval: SamplingApproval | None = None,
        sampling_max_tokens: int | None = SAMPLING_MAX_TOKENS,
        elicit: Elicit | NotGiven | None = NOT_GIVEN,
        roots: Iterable[str | os.PathLike[str]] | None = None,
        offer_resources: bool = False,
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
        self.requires_approval: bool | list[str] | Literal["destructive"] = (
            requires_approval
            if isinstance(requires_approval, bool) or requires_approval == "destructive"
            else _names("requires_approval", requires_approval)
        )
        """True (every tool), ``"destructive"`` (the tools MCP's annotations call destructive:
        ``destructiveHint`` not false and ``readOnlyHint`` not true), or the server's tool names
        whose calls wait for the caller's approval."""
        self.connect_timeout = connect_timeout
        """Seconds to start the server and finish the handshake before `ToolsetError`."""
        self.max_image_bytes = _limit("max_image_bytes", max_image_bytes, least=1)
        """The most bytes an image of a result may have to reach the model (None: no limit)."""
        self.max_images = _limit("max_images", max_images, least=0)
        """The most images of one result that reach the model (None: no limit)."""
        try:
            uris = [root_uri(r) for r in _paths("roots", roots or ())]
        except ValueError as e:
            raise UserError(str(e)) from None
        self.offer_resources = offer_resources
        """Whether the model gets a ``read_resource`` tool (``prefix_read_resource``) when the server has resources."""
        self._asking = Asking(
            where=repr(self), sampling=sampling, sampling_approval=sampling_approval,
            elicit=None if isinstance(elicit, NotGiven) else elicit, declines=elicit is None,
            roots=uris, offers_roots=roots is not None, max_image_bytes=self.max_image_bytes,
            max_images=self.max_images, max_tokens=_limit("sampling_max_tokens", sampling_max_tokens, least=1),
        )  # fmt: skip
        self._instructions: str | None = None
        self._holder: Holder[Connection] | None = None
        self._reconnecting: anyio.Lock | None = None
        self._mode: Literal["auto", "legacy"] = "auto"  # "legacy": the pre-2026 handshake (tests use it)

    @property
    def approval(self) -> set[str]:
        """The server's tool names listed in `requires_approval`."""
        return set(self.requires_approval) if isinstance(self.requires_approval, list) else set()

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
        requires_approval: bool | Iterable[str] | Literal["destructive"] = False,
        connect_timeout: float = 30.0,
        max_image_bytes: int | None = MAX_IMAGE_BYTES,
        max_images: int | None = MAX_IMAGES,
        sampling: Model | None = None,
        sampling_approval: SamplingApproval | None = None,
        sampling_max_tokens: int | None = SAMPLING_MAX_TOKENS,
        elicit: Elicit | NotGiven | None = NOT_GIVEN,
        roots: Iterable[str | os.PathLike[str]] | None = None,
        offer_resources: bool = False,
    ) -> MCPToolset:
        """A server run as a child process, spoken to over its stdin and stdout.

        `env` is added to a minimal default environment (the SDK's: PATH, HOME and the like).
        """
        params = StdioServerParameters(
            command=command, args=list(args), env=dict(env) if env else None, cwd=Path(cwd) if cwd else None
        )
        return cls(params, prefix=prefix, include=include, exclude=exclude, requires_approval=requires_approval,
                   connect_timeout=connect_timeout, max_image_bytes=max_image_bytes, max_images=max_images,
                   sampling=sampling, sampling_approval=sampling_approval, elicit=elicit, roots=roots,
                   sampling_max_tokens=sampling_max_tokens,
                   offer_resources=offer_resources)  # fmt: skip

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
        requires_approval: bool | Iterable[str] | Literal["destructive"] = False,
        connect_timeout: float = 30.0,
        max_image_bytes: int | None = MAX_IMAGE_BYTES,
        max_images: int | None = MAX_IMAGES,
        sampling: Model | None = None,
        sampling_approval: SamplingApproval | None = None,
        sampling_max_tokens: int | None = SAMPLING_MAX_TOKENS,
        elicit: Elicit | NotGiven | None = NOT_GIVEN,
        roots: Iterable[str | os.PathLike[str]] | None = None,
        offer_resources: bool = False,
    ) -> MCPToolset:
        """A server at a Streamable HTTP endpoint (``http://host:port/mcp``); `headers` go with
        every request to that server (an ``Authorization`` header, say) and nowhere else.

        `auth`: a bearer token (sent as ``Authorization: Bearer TOKEN`` to that server only), an
        ``httpx.Auth``, or the MCP SDK's auth provider (``agentkit.mcp.oauth(url)``, or one of the
        SDK's own, as it is). A refusal (HTTP 401/403) raises `AuthorizationError`."""
        return cls(url, headers=headers, auth=auth, prefix=prefix, include=include, exclude=exclude,
                   requires_approval=requires_approval, connect_timeout=connect_timeout,
                   max_image_bytes=max_image_bytes, max_images=max_images, sampling=sampling,
                   sampling_approval=sampling_approval, elicit=elicit, roots=roots,
                   sampling_max_tokens=sampling_max_tokens,
                   offer_resources=offer_resources)  # fmt: skip

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
        requires_approval: bool | Iterable[str] | Literal["destructive"] = False,
        connect_timeout: float = 30.0,
        max_image_bytes: int | None = MAX_IMAGE_BYTES,
        max_images: int | None = MAX_IMAGES,
        sampling: Model | None = None,
        sampling_approval: SamplingApproval | None = None,
        sampling_max_tokens: int | None = SAMPLING_MAX_TOKENS,
        elicit: Elicit | NotGiven | None = NOT_GIVEN,
        roots: Iterable[str | os.PathLike[str]] | None = None,
        offer_resources: bool = False,
    ) -> MCPToolset:
        """A server on the legacy HTTP+SSE transport (``http://host:port/sse``), for servers that
        do not speak Streamable HTTP yet. `headers` and `auth` as for `http`."""
        return cls(url, headers=headers, auth=auth, prefix=prefix, include=include, exclude=exclude,
                   requires_approval=requires_approval, connect_timeout=connect_timeout,
                   max_image_bytes=max_image_bytes, max_images=max_images, sampling=sampling,
                   sampling_approval=sampling_approval, elicit=elicit, roots=roots,
                   sampling_max_tokens=sampling_max_tokens,
                   offer_resources=offer_resources, sse=True)  # fmt: skip

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
    def _shared(self) -> Connection | None:
        """The entered toolset's connection (None when not entered)."""
        return None if self._holder is None else self._holder.connection

    async def _held(self) -> Connection:
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

    @property
    def instructions(self) -> str | None:
        """What the server says about using it (its ``instructions``), as of the last connection;
        None before one, or when it said nothing. Untrusted text: it is not given to the model."""
        return self._instructions

    @property
    def sampling_usage(self) -> Usage:
        """Every sampling request this toolset's model answered, in runs or not."""
        return self._asking.usage

    async def set_roots(self, roots: Iterable[str | os.PathLike[str]]) -> None:
        """Change the roots; an open connection tells the server its list changed."""
        try:
            uris = [root_uri(r) for r in _paths("roots", roots)]
        except ValueError as e:
            raise UserError(str(e)) from None
        self._asking.roots, self._asking.offers_roots = uris, True
        connection = self._shared
        if connection is not None and connection.client is not None and not connection.lost:
            with warnings.catch_warnings():  # deprecated by the 2026-07-28 protocol, still what older servers read
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await connection.request("announce its roots", lambda c: c.send_roots_list_changed())

    async def list_resources(self) -> list[Any]:
        """The server's resources (the SDK's `Resource`: ``.uri``, ``.name``, ``.description``,
        ``.mime_type``), every page; inside ``async with``."""
        connection = await self._open("list_resources")
        return await connection.request(
            "list its resources",
            lambda c: all_pages(lambda cursor: c.list_resources(cursor=cursor), "resources", repr(self)),
        )

    async def read_resource(self, uri: str) -> str | bytes:
        """The resource at `uri`: its text, or its bytes when it is one binary part; inside ``async with``."""
        return await (await self._open("read_resource")).read_resource(uri)

    async def list_prompts(self) -> list[Any]:
        """The server's prompts (the SDK's `Prompt`: ``.name``, ``.description``, ``.arguments``),
        every page; inside ``async with``."""
        connection = await self._open("list_prompts")
        return await connection.request(
            "list its prompts",
            lambda c: all_pages(lambda cursor: c.list_prompts(cursor=cursor), "prompts", repr(self)),
        )

    async def get_prompt(self, name: str, arguments: Mapping[str, str] | None = None) -> list[Message]:
        """The prompt `name` filled with `arguments`, as OpenAI messages (text as strings, images as
        parts of a user message, other blocks as placeholders); inside ``async with``."""
        connection = await self._open("get_prompt")
        result = await connection.request(
            f"get the prompt {name!r}", lambda c: c.get_prompt(name, dict(arguments or {}))
        )
        return prompt_messages(result.messages)

    async def _open(self, method: str) -> Connection:
        if self._holder is None:
            raise UserError(f"{method}() needs an open toolset: use `async with {self!r}:` first")
        return await self._held()

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
    async def _connect(self) -> AsyncIterator[Connection]:
        # The SDK's client lives in a task of its own (`serve`), so that it is entered and left in
        # one task whichever tasks call its tools.
        connection = Connection(self)
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

    def _auth_failure(self, e: BaseException, where: str) -> AuthorizationError | None:
        if self._server_auth is None:
            return None
        return auth_failure(e, self._server_auth, where, redact=self._redact)

    def _describe(self, e: BaseException) -> str:
        """`e` for a message or a log, without this connection's secrets; a failed authorization said as one."""
        failed = self._auth_failure(e, "the server")
        return str(failed) if failed is not None else self._redact(describe(e))

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


def _limit(option: str, value: int | None, *, least: int) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
        raise UserError(f"{option} wants a whole number of at least {least}, or None for no limit; not {value!r}")
    return value


def _paths(option: str, paths: Iterable[str | os.PathLike[str]]) -> list[str | os.PathLike[str]]:
    if isinstance(paths, (str, os.PathLike)):  # one path: a list of one was meant
        raise UserError(f"{option} wants a list of paths or file:// URIs, not the single {paths!r}")
    return list(paths)


def _names(option: str, names: Iterable[str]) -> list[str]:
    if isinstance(names, str):  # a str is an iterable of one-letter names: never what was meant
        raise UserError(f"{option} wants a list of tool names, not the string {names!r}")
    return list(names)


def _server_stderr() -> Any:
    """Where a stdio server's stderr goes: this process's stderr as it is now, when it is a real
    file (the SDK's default is the one it saw when it was imported, maybe a test's stand-in)."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return sys.__stderr__
    return sys.stderr
