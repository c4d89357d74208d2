"""Calls waiting for approval in the chat and on the page: asking the person, and what a new
question does to calls nobody decided on."""

from __future__ import annotations

from collections.abc import Sequence

from .._approvals import Decision, unanswered
from .._model import Message
from .._turn import tool_message

INSTEAD = "Error: this call was not run: the user asked something else instead."
"""The answer a waiting call gets when the person asks a new question instead of deciding."""

PROMPT = "y / n / or a reason to deny: "


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
