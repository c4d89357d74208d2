"""Calls made under the caller's ``tool_choice="none"``: refused, never run.

A server may leave call markup in the content under ``"none"`` (vLLM's tool parsers do not
parse it then) or ignore the choice; agentkit would parse such a call and the agent run it.
Each becomes a malformed call whose reason tells the model, so the transcript stays valid and
the run goes on. Keyed on the caller's choice: the ``"none"`` that `RemoteModel` sends on the
wire for a server without a tool parser (its tools still offered) refuses nothing.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TypeVar

from ._events import MalformedCall, ToolCall, ToolCallMalformed, ToolCallReady
from ._model import Completion, ToolChoice

__all__ = ["refused", "refused_event"]

REASON = 'tool_choice is "none": no tool may be called in this response; answer in text'

E = TypeVar("E")


def refused_event(event: E, tool_choice: ToolChoice | None) -> E | ToolCallMalformed:
    """`event`, or under ``"none"`` a ready call as a malformed one at its index."""
    if tool_choice == "none" and isinstance(event, ToolCallReady):
        return ToolCallMalformed(index=event.index, error=_malformed(event.call))
    return event


def refused(done: Completion, tool_choice: ToolChoice | None) -> Completion:
    """`done`, or under ``"none"`` with its calls moved to its malformed calls."""
    if tool_choice != "none" or not done.tool_calls:
        return done
    return replace(done, tool_calls=[], errors=[*done.errors, *(_malformed(c) for c in done.tool_calls)])


def _malformed(call: ToolCall) -> MalformedCall:
    raw = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
    return MalformedCall(raw=raw, reason=REASON)
