"""agentkit tools for `agentkit mcp serve tests.mcp_servers.agentkit_tools:TOOLS` (and an Agent)."""

from __future__ import annotations

from agentkit import Agent, ToolError, tool
from agentkit.testing import ScriptedModel


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: The first factor.
        b: The second factor.
    """
    return a * b


@tool
def refuse(reason: str) -> str:
    """Always fails with a message for the model.

    Args:
        reason: Why.
    """
    raise ToolError(f"refused: {reason}")


@tool
def explode() -> str:
    """Raises an ordinary exception."""
    raise RuntimeError("the disk is on fire")


TOOLS = [multiply, refuse, explode]
AGENT = Agent(ScriptedModel(["unused"]), [multiply])
NOT_TOOLS = 42
