"""What the chat page keeps of a run as it goes: the transcript after each batch of answers, so
that a run the person stops (or one that fails) never leaves a call that ran looking unrun."""

from __future__ import annotations

from typing import Any

from .._approvals import unanswered
from .._model import Message
from .._turn import UNFINISHED, ran_until, tool_message


class Kept:
    """The transcripts a run's events allow the page to keep (each one valid: every call answered).

    A resume's calls are answered "may have partly run" from the start, then each with its real
    answer as it comes; each finished turn brings the whole transcript. What a turn in progress
    ran is not in them: the page that stops it keeps the transcript before that turn.
    """

    def __init__(self, messages: list[Message], resume: bool) -> None:
        self.input = [m for m in messages if m.get("role") != "system"]
        self.waiting = {c.id: c for c in unanswered(self.input)} if resume else {}
        self.answers = {i: tool_message(c, UNFINISHED) for i, c in self.waiting.items()}
        self.ran = False
        """Whether a call of the resume has started."""

    def start(self) -> list[Message] | None:
        """The transcript to keep before a resume's calls run (None: not a resume)."""
        return [*self.input, *self.answers.values()] if self.waiting else None

    def started(self, call: Any) -> None:
        """`call` starts running."""
        self.ran = self.ran or call.id in self.waiting

    def answered(self, call: Any, content: str) -> list[Message] | None:
        """The transcript once `call` is answered, if it is one of the resume's calls."""
        if call.id not in self.waiting:
            return None
        self.answers[call.id] = tool_message(call, content)
        return [*self.input, *self.answers.values()]

    def failed(self, messages: list[Message]) -> list[Message] | None:
        """A failed run's transcript (`RunError.messages`) up to its last answered calls, or None
        when no call of the run was answered (its question is then not kept). A resume that
        failed before any of its calls started is kept as it was given."""
        own = [m for m in messages if m.get("role") != "system"]
        end = ran_until(own, 0)
        if end > len(self.input):
            return own[:end]
        return None if self.ran or not self.waiting else list(self.input)
