"""An Agent named by a ``MODULE:ATTR`` tools spec keeps its ``approve`` hook: what the command line serves or
runs of its tools is still decided by it (``--tools MODULE:AGENT``, ``agentkit mcp serve MODULE:AGENT``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .._events import ToolCall
from .._tool_runner import Approval, ask
from ._spec import load_object


@dataclass(kw_only=True, frozen=True)
class Hooked:
    """The approve hook of an Agent a spec names, and the tools it holds by name."""

    names: frozenset[str]
    """The names of the Agent's own tools (its toolsets' tools are known only once they are open)."""
    approve: Approval
    """The Agent's hook."""
    timeout: float | None
    """How long the hook may take, in seconds (the Agent's `approval_timeout`, else its `tool_timeout`)."""


def hook_of(spec: str) -> Hooked | None:
    """The hook of the Agent `spec` names; None when it names no Agent, or one without a hook."""
    from .._agent import Agent

    obj = load_object(spec)  # imported already by load_tools: from sys.modules
    if isinstance(obj, Agent) and obj.approve is not None:
        timeout = obj.approval_timeout if obj.approval_timeout is not None else obj.tool_timeout
        return Hooked(names=frozenset(obj.tools), approve=obj.approve, timeout=timeout)
    return None


def combined(hooked: list[Hooked], plain: Iterable[str]) -> Approval | None:
    """One hook for an agent made of several specs' tools; None when no spec brought a hook.

    A call of a tool that came from a spec without a hook (`plain`) runs; one of a hooked Agent's
    tool goes to that Agent's hook; any other (an MCP server's tool, whose origin is known only at
    run time) goes to every hook. The first hook that does not say True decides.
    """
    if not hooked:
        return None
    free = frozenset(plain)

    async def approve(call: ToolCall) -> bool | str:
        if call.name in free:
            return True
        hooks = [h.approve for h in hooked if call.name in h.names] or [h.approve for h in hooked]
        for hook in hooks:
            verdict = await ask(hook, call)
            if verdict is not True:
                return verdict
        return True

    return approve
