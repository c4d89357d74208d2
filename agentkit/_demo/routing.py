"""The built-in router demo: the router's system prompt, the two agents it hands questions to,
and the view the weather demo model needs after a handoff.

The router model (the files in ``router/``, built by tools/build_router_model.py) was trained
on exactly this system prompt and these two transfer tools: renamed agents or other
descriptions are tools it never saw.
"""

from __future__ import annotations

from .._capability import Capability, ModelRequest, RunState
from .._handoffs import PREFIX
from .._messages import Message

__all__ = ["GENERAL_DESCRIPTION", "ROUTER_SYSTEM", "WEATHER_DESCRIPTION", "WithoutTransfers"]

ROUTER_SYSTEM = "You are a router. Hand each question to the agent that answers it."
"""The router's system prompt, as the router model was trained on it."""
WEATHER_DESCRIPTION = "Answers questions about the temperature in a city, now or on a date."
"""The description of the agent named ``weather`` (its ``transfer_to_weather`` tool's)."""
GENERAL_DESCRIPTION = "Answers every other question."
"""The description of the agent named ``general`` (its ``transfer_to_general`` tool's)."""


class WithoutTransfers(Capability):
    """Leaves the transfer calls and their answers out of what the agent's model is sent.

    The weather demo model was trained before handoffs existed: after a transfer exchange it
    never saw, it writes garbled text instead of calling its tools (tried: six questions, none
    answered).
    Without the exchange, the conversation it is sent is one it was trained on. The transcript
    keeps the exchange; only the request changes.
    """

    async def before_request(self, run: RunState, request: ModelRequest) -> None:
        answered = {
            m.get("tool_call_id")
            for m in request.messages
            if m.get("role") == "tool" and str(m.get("name", "")).startswith(PREFIX)
        }
        kept: list[Message] = []
        for m in request.messages:
            if m.get("role") == "tool" and m.get("tool_call_id") in answered:
                continue
            calls = m.get("tool_calls")
            if m.get("role") == "assistant" and calls:
                rest = [c for c in calls if c.get("id") not in answered]
                if not rest and not m.get("content"):
                    continue
                m = {**m, "tool_calls": rest} if rest else {k: v for k, v in m.items() if k != "tool_calls"}
            kept.append(m)
        request.messages[:] = kept
