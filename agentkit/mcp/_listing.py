"""An MCP server's listed tools as agentkit tools, and the pages a list comes in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from .._context import RunContext
from ..tools import SchemaTool
from ._naming import model_name

__all__ = ["MAX_PAGES", "MCPTool", "all_pages", "destructive", "task_only"]

logger = logging.getLogger("agentkit")

MAX_PAGES = 100
"""The most pages of one list (tools, resources, prompts) that are fetched: a server whose
cursors never end gives what it listed by then, with a warning."""

Call = Callable[[dict[str, Any], "RunContext[Any] | None"], Awaitable[Any]]


class MCPTool(SchemaTool):
    """An MCP server's tool: its input schema as the model's, its call sent to the server (with
    the run it belongs to, for sampling, progress and limits)."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        call: Call,
        requires_approval: bool,
        server_name: str,
        title: str | None = None,
        annotations: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
    ) -> None:
        async def direct(arguments: dict[str, Any]) -> Any:
            return await call(arguments, None)

        super().__init__(
            name=name,
            description=description,
            parameters=parameters,
            call=direct,
            requires_approval=requires_approval,
            server_name=server_name,
        )
        self._call = call
        self.takes_context = True  # the run's, when there is one; `acall` works without
        self.reads_transcript = False  # its context needs no copy of the transcript
        self.server_name = server_name
        """The tool's name on the server."""
        self.title = title
        """The server's human-readable title (None: none given)."""
        self.annotations: dict[str, Any] = annotations or {}
        """The server's hints as it sent them (``readOnlyHint``, ``destructiveHint``,
        ``idempotentHint``, ``openWorldHint``, ``title``): claims, not guarantees."""
        self.output_schema = output_schema
        """The schema the server declares for its structured results (None: none)."""

    def __repr__(self) -> str:
        return f"MCPTool({self.name!r})"

    async def acall(self, arguments: str | Mapping[str, Any] | None, context: RunContext[Any] | None = None) -> Any:
        return await self._call(self.validate(arguments), context)


def destructive(annotations: Mapping[str, Any]) -> bool:
    """Whether a tool may destroy, by MCP's defaults: ``readOnlyHint`` false and
    ``destructiveHint`` true unless the server says otherwise."""
    if annotations.get("readOnlyHint") is True:
        return False
    return annotations.get("destructiveHint") is not False


def task_only(listed: Any) -> bool:
    """Whether a listed tool can only be run as a task (``execution.taskSupport: "required"``)."""
    execution = getattr(listed, "execution", None)
    return getattr(execution, "task_support", None) == "required"


def to_tool(listed: Any, *, prefix: str | None, approval: bool | Literal["destructive"], call: Call) -> MCPTool:
    """`listed` (the SDK's `Tool`) as the model's tool; `approval` says whether it waits for one."""
    annotations = listed.annotations.model_dump(by_alias=True, exclude_none=True) if listed.annotations else {}
    if approval == "destructive":
        approval = destructive(annotations)
    return MCPTool(
        name=model_name(f"{prefix}_{listed.name}" if prefix else listed.name),
        description=listed.description or "",
        parameters=listed.input_schema,
        call=call,
        requires_approval=approval,
        server_name=listed.name,
        title=listed.title or annotations.get("title"),
        annotations=annotations,
        output_schema=listed.output_schema,
    )


async def all_pages(fetch: Callable[[str | None], Awaitable[Any]], items: str, where: str) -> list[Any]:
    """Every item of a paged list: `fetch(cursor)` returns a page with `items` and ``next_cursor``;
    stops at `MAX_PAGES` or at a cursor seen before (a loop), with a warning."""
    found: list[Any] = []
    seen: set[str] = set()
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await fetch(cursor)
        found.extend(getattr(page, items))
        cursor = page.next_cursor
        if not cursor:
            return found
        if cursor in seen:
            logger.warning("%s: its %s list repeats a page; the list stops there", where, items)
            return found
        seen.add(cursor)
    logger.warning("%s: its %s list goes on past %d pages; the rest is left out", where, items, MAX_PAGES)
    return found
