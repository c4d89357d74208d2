"""Agent factories for the batch tests: imported by name in child processes, the CLI and Ray workers."""

import json
import os
import signal
from typing import Any

import anyio

from agentkit import Agent, RunContext, tool
from agentkit.testing import ScriptedModel


@tool
async def shout(ctx: RunContext[Any], text: str) -> str:
    """Shout the text back.

    Args:
        text: what to shout
    """
    deps = ctx.deps or {}
    if deps.get("sleep"):
        await anyio.sleep(deps["sleep"])
    if deps.get("ledger"):  # each time the tool runs, the text is written down: a run's tools ran twice or not
        with open(deps["ledger"], "a") as f:
            f.write(text + "\n")
    marker = deps.get("kill_once")
    if marker and not os.path.exists(marker):
        # The first run that gets here kills its own process: a worker dying mid-run.
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return text.upper()


def respond(messages: list) -> str:
    """A tool call to `shout` with the question, then "done: <what it said>"; "fail" makes the model raise."""
    last = messages[-1]
    if last["role"] == "tool":
        return f"done: {last['content']}"
    if last["content"] == "fail":
        raise ValueError("the model fell over")
    return f'<tool_call>\n{json.dumps({"name": "shout", "arguments": {"text": last["content"]}})}\n</tool_call>'


def echo() -> Agent:
    """Two turns per run: shout(question), then "done: QUESTION"."""
    return Agent(ScriptedModel(respond), [shout])


def not_an_agent() -> str:
    return "nope"


REFUNDED: list[str] = []
"""The orders `refund` refunded, in this process."""


@tool(requires_approval=True)
def refund(order: str) -> str:
    """Refund an order.

    Args:
        order: the order's id
    """
    REFUNDED.append(order)
    return f"refunded {order}"


def _refunding(messages: list) -> str:
    last = messages[-1]
    if last["role"] == "tool":
        return f"done: {last['content']}"
    if last["content"].startswith("refund "):
        order = last["content"].split()[1]
        return f'<tool_call>\n{json.dumps({"name": "refund", "arguments": {"order": order}})}\n</tool_call>'
    return f"you said {last['content']}"


def refunds() -> Agent:
    """"refund ID" calls `refund`, which waits for approval; anything else is answered at once."""
    return Agent(ScriptedModel(_refunding), [refund])


ECHO = echo()
"""An Agent itself (not a factory): ``--agent tests.batch_agents:ECHO`` runs it as it is."""
