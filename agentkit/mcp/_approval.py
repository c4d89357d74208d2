"""Approval of a served tool's call by the client's user: an elicitation that shows the call and
asks yes or no. Whatever is not a clear yes, in time, is a no."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio

from .._events import ToolCall
from ..exceptions import ToolError
from ._request import MCPRequest

__all__ = ["APPROVAL_SCHEMA", "ask_user"]

logger = logging.getLogger("agentkit")

APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"approve": {"type": "boolean", "title": "Run it?", "default": False}},
}
"""The form the user answers: one boolean, ``approve``, false unless they change it (left out,
it is false too: only ``approve: true`` runs the call)."""


def approval_message(call: ToolCall) -> str:
    """What the user reads: the tool and the exact arguments it would run with."""
    try:
        shown = json.dumps(json.loads(call.arguments), indent=2, ensure_ascii=False)
    except ValueError:
        shown = call.arguments
    return f"The tool {call.name} needs your approval to run with these arguments:\n{shown}"


async def ask_user(request: MCPRequest, call: ToolCall, timeout: float | None) -> str | None:
    """None when the client's user approves `call`; otherwise why it must not run."""
    answer: dict[str, Any] | None = None
    with anyio.move_on_after(timeout) as scope:
        try:
            answer = await request.elicit(approval_message(call), APPROVAL_SCHEMA)
        except ToolError as e:
            return f"it needs the user's approval, and {e}"
        except Exception as e:  # a broken client answer: no approval
            logger.info("asking an MCP client to approve %s failed: %s", call.name, type(e).__name__)
            return "asking the user for approval failed"
    if scope.cancelled_caught:
        return f"the user did not answer in time ({timeout} s)"
    if answer is None:
        return "the user declined"
    if answer.get("approve") is not True:  # accepted the form, but not the call
        return "the user did not approve it"
    return None
