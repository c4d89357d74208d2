"""Approvals that can wait: stopping a run before calls that need a decision, and resuming it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from ._events import ToolCall
from ._model import Message
from .exceptions import UserError
from .tools import Tool

__all__ = [
    "PENDING",
    "SUBRUNS",
    "WENT_ON",
    "Decision",
    "decided",
    "last_assistant",
    "to_decide",
    "needing_approval",
    "needing_decision",
    "open_calls",
    "settle",
    "unanswered",
    "waiting_calls",
    "went_on",
]

PENDING = "agentkit_pending"
"""On an assistant message a run stopped at: the ids of its calls that wait for the caller's decision."""

SUBRUNS = "agentkit_subruns"
"""On an assistant message a run stopped at: by call id, the sub-runs (agents called as tools)
that stopped for approval, each with its transcript (``{"agent": name, "messages": [...]}``)."""

Decision: TypeAlias = "bool | str"
"""A caller's decision on a pending call: True runs it, False or a reason (a str) denies it."""


def last_assistant(messages: list[Message]) -> Message:
    """The transcript's last assistant message (an empty dict when there is none)."""
    return next((m for m in reversed(messages) if m.get("role") == "assistant"), {})


def needing_approval(calls: list[ToolCall], tools: Mapping[str, Tool[Any, Any]]) -> list[ToolCall]:
    """The calls of one message whose tool asks for approval before it runs."""
    return [c for c in calls if (t := tools.get(c.name)) is not None and t.requires_approval]


def unanswered(messages: list[Message]) -> list[ToolCall]:
    """The calls of the transcript's last assistant message that have no tool message yet.

    A run stopped for approval ends with that message; a finished one has none left.
    """
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if message.get("role") == "assistant":
            answered = {m.get("tool_call_id") for m in messages[i + 1 :] if m.get("role") == "tool"}
            return [ToolCall.from_dict(c) for c in message.get("tool_calls") or () if c.get("id") not in answered]
        if message.get("role") != "tool":
            return []
    return []


def needing_decision(messages: list[Message], tools: Mapping[str, Tool[Any, Any]]) -> list[ToolCall]:
    """The waiting calls (`unanswered`) that need the caller's decision: those the stopped run
    marked (`PENDING`: a tool that needs approval, or a capability that held them) and those
    whose tool needs approval (a mark, which a transcript from elsewhere may bring, can add calls
    that need a decision, never take one away)."""
    waiting = unanswered(messages)
    last = last_assistant(messages)
    marked = last.get(PENDING)
    marked = marked if isinstance(marked, list) else []
    needed = {c.id for c in needing_approval(waiting, tools)}
    return [c for c in waiting if c.id in marked or c.id in needed]


def to_decide(messages: list[Message], tools: Mapping[str, Tool[Any, Any]]) -> list[ToolCall]:
    """The calls the caller decides on to resume: `needing_decision`, where a waiting call is a
    sub-run's, that sub-run's own (at any depth)."""
    last = last_assistant(messages)
    subruns = last.get(SUBRUNS)
    out: list[ToolCall] = []
    for call in needing_decision(messages, tools):
        sub = subruns.get(call.id) if isinstance(subruns, dict) else None
        inner = sub.get("messages") if isinstance(sub, dict) else None
        out += to_decide(inner, {}) if isinstance(inner, list) else [call]
    return out


def waiting_calls(messages: list[Message]) -> list[ToolCall]:
    """The calls a stopped run left waiting (`unanswered`); `UserError` when the transcript holds
    other calls without answers (a new message after them: no server takes that)."""
    waiting = unanswered(messages)
    stuck = sorted(set(open_calls(messages)) - {c.id for c in waiting})
    if stuck:
        raise UserError(
            f"the conversation has tool calls without answers ({', '.join(stuck)}): resume the run that "
            "stopped for approval (its messages and approvals=) before adding a new message"
        )
    return waiting


def decided(
    messages: list[Message], tools: Mapping[str, Tool[Any, Any]], approvals: Mapping[str, Decision] | None
) -> dict[str, Decision]:
    """Each waiting call's decision; raises `UserError` for a missing or stray decision."""
    if approvals is not None and not isinstance(approvals, Mapping):
        raise UserError(f"approvals must be a dict of call id -> decision, not {type(approvals).__name__}")
    approvals = dict(approvals or {})
    waiting = {c.id for c in to_decide(messages, tools)}
    # Only calls that wait for a decision take one: the others are not the caller's to force.
    stray = sorted(set(approvals) - waiting)
    if stray:
        raise UserError(f"approvals name calls that are not waiting for a decision: {', '.join(stray)}")
    missing = sorted(waiting - set(approvals))
    if missing:
        raise UserError(
            f"no decision for the pending calls {', '.join(missing)}: pass approvals={{id: True | False | reason}}"
        )
    for call_id, verdict in approvals.items():
        if not isinstance(verdict, (bool, str)):
            raise UserError(f"the decision for {call_id} must be True, False or a reason (str), not {verdict!r}")
    return approvals


WENT_ON = "Error: this call was not run: the conversation went on without a decision on it"
"""The answer to a call left behind (see `went_on`)."""


def went_on(messages: list[Message]) -> tuple[list[Message], list[str]]:
    """`messages` with an answer (`WENT_ON`) to each call left behind, and those calls' ids.

    A call is left behind when no tool message answers it and the model spoke again after it:
    another run on the session stored its turn after a message that waited for approval. Its
    answer goes right after that message's tool messages, so the conversation can go on.
    """
    out: list[Message] = []
    left: list[str] = []
    after: dict[int, list[Message]] = {}  # index of the message to put the answers after -> answers
    for i, message in enumerate(messages):
        if message.get("role") != "assistant" or not message.get("tool_calls"):
            continue
        nxt = next((k for k in range(i + 1, len(messages)) if messages[k].get("role") == "assistant"), None)
        if nxt is None:
            continue
        answered = {m.get("tool_call_id") for m in messages[i + 1 : nxt] if m.get("role") == "tool"}
        calls = [c for c in message["tool_calls"] if c.get("id") not in answered]
        end = i
        while end + 1 < nxt and messages[end + 1].get("role") == "tool":
            end += 1
        for c in calls:
            function = c.get("function")
            name = function.get("name") if isinstance(function, dict) else None
            after.setdefault(end, []).append({"role": "tool", "tool_call_id": c.get("id"), "name": name,
                                              "content": WENT_ON})  # fmt: skip
            left.append(str(c.get("id")))
    if not left:
        return messages, []
    for i, message in enumerate(messages):
        out.append(message)
        out.extend(after.get(i, ()))
    return out, left


def open_calls(messages: list[Message]) -> list[str]:
    """Ids of the calls in `messages` that no tool message answers. A call's answer is a tool
    message after its assistant message and before the next one: an id a model used again
    later is a different call."""
    out: list[str] = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant" or not message.get("tool_calls"):
            continue
        answered = set()
        for later in messages[i + 1 :]:
            if later.get("role") == "assistant":
                break
            if later.get("role") == "tool":
                answered.add(later.get("tool_call_id"))
        out += [str(c.get("id")) for c in message["tool_calls"] if c.get("id") not in answered]
    return out


def settle(messages: list[Message], approvals: Mapping[str, Decision] | None) -> list[Message]:
    """`messages` with the calls left behind answered as not run (`went_on`); `UserError` if
    `approvals` decide one of them."""
    messages, left = went_on(messages)
    decided = sorted(set(left) & set(approvals or ()))
    if decided:
        raise UserError(
            f"the call {', '.join(decided)} can no longer be decided: the conversation went on after it (another "
            "run on this session stored its turn after it), so it was answered as not run. Ask again for it "
            "in a new message if it is still wanted"
        )
    return messages
