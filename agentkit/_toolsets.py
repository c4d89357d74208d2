"""Toolsets: tools that come from elsewhere (an MCP server), opened for a run and listed then.

Plain functions are known when the `Agent` is built; a toolset's tools are known only once it
is connected. The loop asks each toolset for its tools at the start of a run, through
`Toolset.tools_for_run`, and from then on treats them exactly like functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Protocol, runtime_checkable

from .exceptions import UserError
from .tools import SchemaTool, Tool

__all__ = ["SchemaTool", "Toolset", "open_tools"]

logger = logging.getLogger("agentkit")


@runtime_checkable
class Toolset(Protocol):
    """A source of tools for a run: `agentkit.mcp.MCPToolset` is one."""

    def tools_for_run(self) -> AbstractAsyncContextManager[Sequence[Tool[Any, Any]]]:
        """The tools, usable until the context exits (a toolset the user has not opened
        connects here and disconnects on exit, also on error or cancellation)."""
        ...


async def open_tools(
    functions: Mapping[str, Tool[Any, Any]], toolsets: Sequence[Toolset], stack: AsyncExitStack
) -> dict[str, Tool[Any, Any]]:
    """Every tool of a run: the functions', then each toolset's (opened on `stack`).

    Raises `UserError` when two tools share a name: the model could not tell them apart.
    """
    tools = dict(functions)
    origin = dict.fromkeys(functions, "a function")
    for toolset in toolsets:
        for t in await stack.enter_async_context(toolset.tools_for_run()):
            if t.name in tools:
                raise UserError(
                    f"two tools are named {t.name!r} (from {origin[t.name]} and {toolset!r}): "
                    "give a toolset a prefix, or include/exclude tools"
                )
            tools[t.name] = t
            origin[t.name] = repr(toolset)
    return tools
