"""One live MCP client session of a toolset, and the tool list it last fetched."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus

from ..exceptions import ToolError, ToolsetError, UserError
from ..tools import SchemaTool, Tool
from ._failures import connection_lost
from ._holding import watched
from ._naming import model_name
from ._outputs import check_outputs_safely
from ._results import result_value

try:
    from mcp import Client
    from mcp.client.subscriptions import ListenNotSupportedError
    from mcp.types import Implementation, ToolListChangedNotification
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

if TYPE_CHECKING:
    from ._toolset import MCPToolset

__all__ = ["Connection"]

logger = logging.getLogger("agentkit")

_CLIENT_INFO = Implementation(name="agentkit", version="0.1.0")


class Connection:
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
                if connection_lost(e):  # not retried: the call may have had its effect
                    self.lose(self.toolset._describe(e))
                raise ToolError(
                    f"the MCP server failed on {name}: {self.toolset._describe(e)}"
                ) from self.toolset._redact.cause(e)
            return result_value(result, max_image_bytes=self.toolset.max_image_bytes,
                                max_images=self.toolset.max_images)  # fmt: skip

        return call
