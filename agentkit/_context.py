"""What a tool can see of the run that called it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import TypeVar

from ._events import ToolCall

if TYPE_CHECKING:
    from ._messages import Message, Usage
    from .mcp._request import MCPRequest

__all__ = ["RunContext"]

DepsT = TypeVar("DepsT", default=None)


@dataclass(frozen=True, kw_only=True)
class RunContext(Generic[DepsT]):
    """Given to a tool whose first parameter is annotated ``RunContext[...]``.

    That parameter is not in the tool's schema: the model never sees it and cannot set it.
    """

    deps: DepsT
    """What the run was given as ``deps=`` (None when nothing was)."""
    usage: Usage
    """The run's usage so far: every finished model call."""
    turn: int
    """The model call that made this tool call (0 = the run's first)."""
    messages: list[Message]
    """The transcript up to this turn (a copy: changing it changes nothing)."""
    call: ToolCall
    """The call being run."""
    mcp: MCPRequest | None = None
    """The MCP request being answered, when the tool is served over MCP (`agentkit.mcp.server`):
    progress, log messages, sampling and elicitation to that client. None inside an Agent."""
    _run: Any = field(default=None, repr=False, compare=False)
    """The calling run's state (agentkit's own: an agent called as a tool belongs to that run)."""


def is_context_hint(hint: Any) -> bool:
    """Whether a parameter's type hint asks for the `RunContext`."""
    return hint is RunContext or getattr(hint, "__origin__", None) is RunContext
