"""Toolsets: tools that come from elsewhere (an MCP server), opened for a run and listed then.

Plain functions are known when the `Agent` is built; a toolset's tools are known only once it
is connected. The loop asks each toolset for its tools at the start of a run, through
`Toolset.tools_for_run`, and from then on treats them exactly like functions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Protocol, runtime_checkable

import jsonschema
import referencing.exceptions

from . import _validation
from .exceptions import UserError
from .tools import Tool

logger = logging.getLogger("agentkit")


@runtime_checkable
class Toolset(Protocol):
    """A source of tools for a run: `agentkit.mcp.MCPToolset` is one."""

    def tools_for_run(self) -> AbstractAsyncContextManager[Sequence[Tool[Any, Any]]]:
        """The tools, usable until the context exits (a toolset the user has not opened
        connects here and disconnects on exit, also on error or cancellation)."""
        ...


class SchemaTool(Tool[..., Any]):
    """A tool described by a JSON Schema rather than a Python signature (an MCP server's tool).

    Arguments are checked against `parameters` as given, then passed to `call` as one dict. What
    cannot be checked safely here is left to the server, which checks its own arguments: a whole
    schema that is invalid or references anything outside itself (never fetched), one whose check
    spends its budget of steps (from then on), and each pattern that RE2 cannot compile (agentkit
    never matches a server's pattern with Python's `re`).
    """

    def __init__(
        self,
        *,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        call: Callable[[dict[str, Any]], Awaitable[Any]],
        requires_approval: bool = False,
    ) -> None:
        # Not Tool.__init__: there is no signature or docstring to read.
        self.name = name
        self.description = description
        self.parameters = dict(parameters)
        self.function = call
        self.requires_approval = requires_approval
        self.takes_context = False
        self._is_async = True  # `call` is awaited: cancelled at tool_timeout
        self._converters = {}
        try:
            self._validator = _validation.validator(self.parameters, lenient=True)
        except _validation.SchemaProblem as e:
            self._unchecked(str(e))

    def _unchecked(self, why: str) -> None:
        logger.warning("the arguments of %s are not checked by agentkit (the server checks them): %s", self.name, why)
        self._validator = None

    def _schema_errors(self, arguments: dict[str, Any]) -> list[jsonschema.ValidationError]:
        if self._validator is None:
            return []
        try:
            return super()._schema_errors(arguments)
        except referencing.exceptions.Unresolvable as e:  # a $ref into a place no subschema is
            self._unchecked(f"the reference {e.ref!r} does not resolve within the schema")
            return []
        except RecursionError:  # {"$ref": "#"}: a schema that only refers to itself
            self._unchecked("its references loop")
            return []
        except _validation.SchemaTooCostly as e:  # references that multiply: every call would cost as much
            self._unchecked(str(e))
            return []

    def __repr__(self) -> str:
        return f"SchemaTool({self.name!r})"

    async def acall(self, arguments: Any, context: Any = None) -> Any:
        return await self.function(self.validate(arguments))


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
