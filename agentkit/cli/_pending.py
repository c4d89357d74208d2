"""Calls waiting for approval in the chat and on the page: asking the person, and what a new
question does to calls nobody decided on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .._approvals import Decision, unanswered
from .._events import ToolCall
from .._model import Message
from .._turn import tool_message
from ._visible import exact

INSTEAD = "Error: this call was not run: the user asked something else instead."
"""The answer a waiting call gets when the person asks a new question instead of deciding."""

PROMPT = "y / n / or a reason to deny: "

UNKNOWN = "Error: the outcome of this call is unknown: the run that ran it stopped before it finished."
"""The answer a call gets when the run that claimed it (to run it) stopped before storing its answer."""

SHOWN = 400
"""The most characters of a call's arguments the approval prompt shows."""


def shown_arguments(arguments: str, limit: int = SHOWN) -> str:
    """A call's arguments for the approval prompt: on one line (JSON re-serialised compactly, so
    whitespace cannot push part of it off the screen), control characters written out, and at most
    `limit` characters, with a note of how many more there are."""
    try:
        text = json.dumps(json.loads(arguments), ensure_ascii=False, separators=(", ", ": "))
    except ValueError:
        text = arguments
    text = exact(text).replace("\n", "\\n").replace("\t", "\\t")
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters not shown)"


async def claimed_elsewhere(session: Any, calls: Sequence[ToolCall]) -> list[ToolCall]:
    """Those of `calls` another run of `session` has claimed (it is running them, or it stopped
    before storing their answers); the others are left unclaimed."""
    claim, release = getattr(session, "claim_calls", None), getattr(session, "release_calls", None)
    if claim is None or release is None:
        return []
    taken = []
    for call in calls:
        if await claim([call.id]):
            await release([call.id])
        else:
            taken.append(call)
    return taken


async def answer_unknown(session: Any, calls: Sequence[ToolCall]) -> bool:
    """Answer `calls`, claimed by a run that stopped, with `UNKNOWN`: their claims are dropped,
    then claimed here and answered, so that no resume runs them again. False when another run
    claimed or answered them meanwhile (nothing is stored)."""
    ids = [c.id for c in calls]
    await session.release_calls(ids)
    if not await session.claim_calls(ids):
        return False
    try:
        await session.add_messages([tool_message(c, UNKNOWN) for c in calls])
    finally:
        await session.release_calls(ids)
    return True


def new_question(transcript: Sequence[Message], question: str) -> list[Message]:
    """The messages that put `question` after `transcript`: first an answer for each call the
    transcript's last assistant message left without one (they waited for approval, none of
    them ran: a new question denies them), then the question.

    Every call is answered exactly once, so the conversation stays one a server takes. The
    chat and the page both go through here.
    """
    denied = [tool_message(call, INSTEAD) for call in unanswered(list(transcript))]
    return [*denied, {"role": "user", "content": question}]


def decision(answer: str) -> Decision | None:
    """A person's answer to the approval prompt: y(es) runs the call, n(o) denies it, other text
    denies it with that text as the reason; None for an empty answer (ask again)."""
    text = answer.strip()
    if text.lower() in ("y", "yes"):
        return True
    if text.lower() in ("n", "no"):
        return False
    return text or None
