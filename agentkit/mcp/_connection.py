"""One live MCP client session of a toolset, and the tool list it last fetched."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus

from .._capability import RunState
from .._context import RunContext
from .._events import ToolCall
from .._redact import Redactor
from .._result import ToolProgress
from ..exceptions import ToolError, ToolsetError, UserError
from ..tools import SchemaTool, Tool
from ._asking import Asking, log_level
from ._failures import connection_lost
from ._holding import watched
from ._listing import all_pages, task_only, to_tool
from ._outputs import ResultRefused, check_outputs_safely
from ._reading import contents_value, reader_tool
from ._results import result_value
from ._untrusted import sanitise

try:
    from mcp import Client
    from mcp.client.subscriptions import ListenNotSupportedError
    from mcp.shared.exceptions import MCPDeprecationWarning
    from mcp.types import Implementation, ToolListChangedNotification
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

__all__ = ["Connection", "Owner"]


class Owner(Protocol):
    """What a connection needs of the toolset it serves (`MCPToolset`; named here, not imported,
    so that the two modules form no import circle)."""

    connect_timeout: float
    prefix: str | None
    include: list[str] | None
    exclude: list[str]
    requires_approval: bool | list[str] | Literal["destructive"]
    max_image_bytes: int | None
    max_images: int | None
    offer_resources: bool
    _asking: Asking
    _instructions: str | None
    _mode: Literal["auto", "legacy"]
    _redact: Redactor

    @property
    def approval(self) -> set[str]: ...

    def _describe(self, e: BaseException) -> str: ...

    def _transport(self) -> Any: ...


T = TypeVar("T")

MAX_PROGRESS_EVENTS = 1_000
"""The most `ToolProgress` events of one call."""
MAX_PROGRESS_MESSAGE = 500
"""The most characters of a progress message that reach the stream."""

logger = logging.getLogger("agentkit")

_CLIENT_INFO = Implementation(name="agentkit", version="0.1.0")


class Connection:
    """One live client session and the tool list it last fetched."""

    def __init__(self, toolset: Owner) -> None:
        self.toolset = toolset
        self.client: Client | None = None
        self.closing = anyio.Event()
        self.lost = False
        """Whether the server went away while the connection was open."""
        self._tools: list[Tool[Any, Any]] | None = None
        self._generation = 0  # counts the server's "the list changed"
        self._lock = anyio.Lock()
        self.runs: list[RunState] = []
        """The runs with a call in flight here, in the order their calls went out."""
        self.in_flight = 0
        """Calls in flight here, in runs or not."""
        self.checked: Callable[[str], bool] = lambda name: False
        """Whether the SDK checked the tool `name`'s last structured result against its output schema."""

    def current_runs(self) -> list[RunState] | Literal[False]:
        """The runs a server's request (sampling) may belong to: every run with a call in flight
        here (MCP's handshake-era protocol does not say which call a request serves, so each one's
        limits bound it); [] when only calls outside runs are; False when no call is (the server
        asks of its own accord)."""
        if not self.in_flight:
            return False
        return list({id(run): run for run in self.runs}.values())

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        client = Client(
            watched(self.toolset._transport(), self.lose),
            message_handler=self._on_message,
            cache=None,
            client_info=_CLIENT_INFO,
            mode=self.toolset._mode,
            log_level=log_level(),
            **self.toolset._asking.callbacks(self.current_runs),
        )
        started = False
        try:
            async with client, anyio.create_task_group() as tg:
                self.checked = check_outputs_safely(client.session)
                self.client = client
                self.toolset._instructions = client.instructions
                tg.start_soon(self._listen, client)
                tg.start_soon(self._ask_for_logs, client)  # not awaited: a server slow to answer delays no call
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

    async def _ask_for_logs(self, client: Client) -> None:
        # Handshake-era servers send log messages at the level `logging/setLevel` asked for;
        # newer ones read `log_level` from each request.
        if client.protocol_version >= "2026" or client.server_capabilities.logging is None:
            return
        try:
            with warnings.catch_warnings():  # deprecated by the 2026-07-28 protocol, not by the server's
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.set_logging_level(log_level())
        except Exception as e:  # a server that refuses still serves its tools
            logger.info("%r: logging/setLevel failed (%s)", self.toolset, self.toolset._describe(e))

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
        client = self.client
        limit = self.toolset.connect_timeout
        try:
            with anyio.fail_after(limit):
                listed = await all_pages(lambda cursor: client.list_tools(cursor=cursor), "tools", repr(self.toolset))
                resources = await self._resources_for_the_model(client)
        except TimeoutError:
            raise ToolsetError(f"{self.toolset!r} did not list its tools in {limit} s") from None
        except Exception as e:
            said = self.toolset._describe(e)
            if connection_lost(e):
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
            if task_only(t):  # agentkit does not run tasks: a plain call would always fail
                logger.info("%r: the tool %r runs only as a task; it is not offered", ts, t.name)
                continue
            destructive = ts.requires_approval == "destructive"
            tool = to_tool(
                t,
                prefix=ts.prefix,
                approval="destructive" if destructive else ts.requires_approval is True or t.name in ts.approval,
                call=self._caller(t.name, t.output_schema),  # by the server's own name
            )
            if tool.name in tools:  # a server that lists one name twice: which tool a call meant is unknown
                logger.warning("the MCP server %s lists two tools named %r: the first is offered", self, t.name)
                continue
            tools[tool.name] = tool
        if resources is not None:
            reader = reader_tool(ts.prefix, resources, self.read_resource)
            if reader.name not in tools:  # the server's own tool of that name comes first
                tools[reader.name] = reader
        return list(tools.values())

    async def _resources_for_the_model(self, client: Client) -> list[Any] | None:
        """The resources the ``read_resource`` tool lists, when it is offered (None: it is not)."""
        if not self.toolset.offer_resources or client.server_capabilities.resources is None:
            return None
        return await all_pages(lambda c: client.list_resources(cursor=c), "resources", repr(self.toolset))

    def _caller(self, name: str, output_schema: dict[str, Any] | None) -> Any:
        async def call(arguments: dict[str, Any], context: RunContext[Any] | None) -> Any:
            client = self.client
            if client is None or self.lost:
                raise ToolError(f"the MCP server of {name} is no longer connected")
            run: RunState | None = context._run if context is not None else None
            progress = _progress(run, context.call) if run is not None and context is not None else None
            if run is not None:
                self.runs.append(run)
            self.in_flight += 1
            try:
                result = await client.call_tool(name, arguments, progress_callback=progress)
            except ResultRefused as e:  # not "the server failed": the call may have had its effect
                raise ToolError(f"{name} ran, but its result was refused: {sanitise(e)}") from None
            except Exception as e:
                if connection_lost(e):  # not retried: the call may have had its effect
                    self.lose(self.toolset._describe(e))
                raise ToolError(
                    f"the MCP server failed on {name}: {self.toolset._describe(e)}"
                ) from self.toolset._redact.cause(e)
            finally:
                self.in_flight -= 1
                if run is not None:
                    self.runs.remove(run)
            # Structured content is read only when it was checked against the declared schema:
            # one agentkit could not check (too costly, unreadable) is the server's word alone.
            declared = output_schema if output_schema is not None and self.checked(name) else None
            return result_value(result, output_schema=declared, max_image_bytes=self.toolset.max_image_bytes,
                                max_images=self.toolset.max_images)  # fmt: skip

        return call

    # --- resources and prompts ---------------------------------------------------------------

    async def request(self, what: str, send: Callable[[Client], Awaitable[T]]) -> T:
        """`send(client)`'s answer; a failure is a `ToolsetError` naming `what` (the connection is
        marked lost when it is gone)."""
        client = self.client
        if client is None or self.lost:
            raise ToolsetError(f"{self.toolset!r} is no longer connected")
        try:
            return await send(client)
        except Exception as e:
            said = self.toolset._describe(e)
            if connection_lost(e):
                self.lose(said)
            raise ToolsetError(f"{self.toolset!r} could not {what}: {said}") from self.toolset._redact.cause(e)

    async def read_resource(self, uri: str) -> str | bytes:
        """The resource at `uri`, as `contents_value` makes it."""
        result = await self.request(f"read {uri!r}", lambda c: c.read_resource(uri))
        return contents_value(result.contents)


def _progress(run: RunState, call: ToolCall) -> Any:
    """The progress callback of `call`: each notification as a `ToolProgress` of the run's stream,
    those that go forward (MCP's rule) and at most `MAX_PROGRESS_EVENTS`: a server that floods
    fills no buffer."""
    emit = run.emit  # None: a run that does not stream; the token still goes, as MCP clients send one
    last: list[float] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        if emit is None or len(last) >= MAX_PROGRESS_EVENTS or (last and value <= last[-1]):
            return
        last.append(value)
        said = message[:MAX_PROGRESS_MESSAGE] if isinstance(message, str) else None
        await emit(ToolProgress(call=call, progress=value, total=total, message=said))

    return progress
