"""Toolsets: tools that come from elsewhere (an MCP server), opened for a run and listed then.

Plain functions are known when the `Agent` is built; a toolset's tools are known only once it
is connected. The loop asks each toolset for its tools at the start of a run, through
`Toolset.tools_for_run`, and from then on treats them exactly like functions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Protocol, runtime_checkable

import jsonschema

from .exceptions import UserError
from .tools import FORMAT_CHECKER, Tool


@runtime_checkable
class Toolset(Protocol):
    """A source of tools for a run: `agentkit.mcp.MCPToolset` is one."""

    def tools_for_run(self) -> AbstractAsyncContextManager[Sequence[Tool[Any, Any]]]:
        """The tools, usable until the context exits (a toolset the user has not opened
        connects here and disconnects on exit, also on error or cancellation)."""
        ...


class SchemaTool(Tool[..., Any]):
    """A tool described by a JSON Schema rather than a Python signature (an MCP server's tool).

    Arguments are checked against `parameters` as given, then passed to `call` as one dict.
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
        self._converters = {}
        try:
            jsonschema.Draft202012Validator.check_schema(self.parameters)
            self._validator = jsonschema.Draft202012Validator(self.parameters, format_checker=FORMAT_CHECKER)
        except jsonschema.SchemaError:
            # A server's schema we cannot read: the server checks the arguments itself.
            self._validator = jsonschema.Draft202012Validator({}, format_checker=FORMAT_CHECKER)

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
