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


@tool(requires_approval=True)
def pay(amount: int, ledger: str) -> str:
    """Pay an amount: a side effect that needs the user's approval (a line in the ledger file).

    Args:
        amount: How much.
        ledger: The file that records each payment.
    """
    with open(ledger, "a") as f:
        f.write(f"{amount}\n")
    return f"paid {amount}"


TOOLS = [multiply, refuse, explode]
GUARDED = [multiply, pay]
AGENT = Agent(ScriptedModel(["unused"]), [multiply])
NOT_TOOLS = 42


@tool
def spend(amount: int, ledger: str) -> str:
    """Spend an amount: a side effect an Agent's `approve` hook decides on (a line in the ledger file).

    Args:
        amount: How much.
        ledger: The file that records each spending.
    """
    with open(ledger, "a") as f:
        f.write(f"{amount}\n")
    return f"spent {amount}"


def small_amounts_only(call) -> bool | str:
    """The hook of HOOKED: multiply always; spend up to 100."""
    import json

    if call.name == "spend" and json.loads(call.arguments).get("amount", 0) > 100:
        return "over the limit of 100"
    return True


HOOKED = Agent(ScriptedModel(["unused"]), [multiply, spend], approve=small_amounts_only)
