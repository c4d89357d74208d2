"""One turn's state (what a model call produced, the answers to its calls) and its helpers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ._events import ToolCall, ToolCallReady
from ._marks import INSERTED, inserted
from ._model import Completion, Message
from ._order import Order
from .formats import new_call_id

__all__ = ["Turn", "answerable", "in_call_order", "tool_message"]

E = TypeVar("E")

UNFINISHED = ("Error: this call was not run to completion: the run was cancelled or failed while it ran, so it "
              "may have partly run")  # fmt: skip
"""The answer of a call a run started and did not finish (it was cancelled or failed)."""


@dataclass
class Turn:
    """What one model call has produced so far, and the answers to its calls."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    started: list[ToolCall] = field(default_factory=list)
    """Calls dispatched while the model was still streaming, in order."""
    results: dict[str, Message] = field(default_factory=dict)
    """The tool messages, by call id."""
    abandoned: set[str] = field(default_factory=set)
    """Calls that timed out in a worker thread that may still be running."""
    touched: dict[str, str] = field(default_factory=dict)
    """Calls that failed after part of them ran (a sub-agent whose tools ran), with what ran: a
    failed run keeps them, answered with that."""
    failures: dict[str, Exception] = field(default_factory=dict)
    """What a capability raised while a call was answered, by call id (raised once the turn's calls are done)."""
    images: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    """Image parts tools returned, by call id (kept only when the model takes images)."""
    message: Message | None = None
    """The assistant message whose `calls` are being answered (None: it is in the transcript
    already, as a resumed run's waiting message is)."""
    calls: list[ToolCall] = field(default_factory=list)
    """The calls being answered, once the message is complete."""
    order: Order = field(default_factory=Order)
    """When each call may start (`sequential` tools, ``parallel_tools=False``)."""
    renamed: dict[str, str] = field(default_factory=dict)
    """The model's call ids this turn has seen -> their ids in the transcript (a fresh one where
    the transcript had used the model's), so a streamed call and the final message agree."""

    def message_of(self, completion: Completion) -> tuple[Message, list[tuple[ToolCall, str | None]]]:
        """The assistant message of `completion` and the calls that get a tool message (`answerable`)."""
        calls = answerable(completion)
        # The final message should hold every call the stream announced; one it lacks still
        # ran, so it is kept: the transcript records what ran, whatever the backend did.
        known = {c.id for c, _ in calls}
        calls += [(c, None) for c in self.started if c.id not in known]
        message = completion.message
        if calls:
            message["tool_calls"] = [c.to_dict() for c, _ in calls]
        return message, calls

    def answers(self, calls: list[ToolCall]) -> list[Message]:
        """The messages that answer `calls`: their tool messages in call order, then a user
        message with the images they returned, if any (an OpenAI-style tool message holds text
        only), marked as the run's own: it starts no turn."""
        out = [self.results[c.id] for c in calls]
        parts: list[dict[str, Any]] = []
        for call in calls:
            if self.images.get(call.id):
                parts.append({"type": "text", "text": f"The images returned by {call.name} (call {call.id}):"})
                parts.extend(self.images[call.id])
        if parts:
            out.append(inserted({"role": "user", "content": parts}, "images"))
        return out

    def ran(self) -> list[Message]:
        """The transcript's end when the model failed after some calls started: an assistant
        message with those calls (and the text so far), then their tool messages."""
        if not self.started:
            return []
        return [self._early_message(), *(self.results.get(c.id) or tool_message(c, UNFINISHED) for c in self.started)]

    def _early_message(self) -> Message:
        """The assistant message of the calls started early, with the text so far."""
        message: Message = {"role": "assistant", "content": "".join(self.text)}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        message["tool_calls"] = [c.to_dict() for c in self.started]
        return message

    def own_ids(self, item: E, transcript: list[Message]) -> E:
        """`item` (a `Completion`, a `ToolCallReady`, or another event, returned as is) with a
        fresh id for each call whose id the transcript (or this turn) has used already: a model
        may number its calls per response, and an id must name one call in the transcript."""
        if isinstance(item, ToolCallReady):
            return replace(item, call=self._own(item.call, transcript))  # type: ignore[return-value]
        if isinstance(item, Completion) and item.tool_calls:
            return replace(item, tool_calls=[self._own(c, transcript) for c in item.tool_calls])  # type: ignore[return-value]
        return item

    def _own(self, call: ToolCall, transcript: list[Message]) -> ToolCall:
        if call.id in self.renamed:
            return replace(call, id=self.renamed[call.id])
        used = {i for m in transcript for i in _ids(m)} | set(self.renamed.values())
        if call.id not in used:
            self.renamed[call.id] = call.id
            return call
        self.renamed[call.id] = new_call_id()
        return replace(call, id=self.renamed[call.id])

    def unfinished(self, transcript: list[Message], *, claimed: bool = False) -> list[Message]:
        """What a run that fails now must add to `transcript` to keep the calls of this turn that
        ran: the message with its calls (or those started early), each answered with its result or
        with a note that it did not finish; nothing when no call finished (unless the calls are a
        resume's, `claimed`: they may have started), or the turn is in `transcript` already."""
        message, calls = self.message, self.calls
        if message is None and not calls:
            calls = self.started
            message = self._early_message() if calls else None
        if not (claimed and message is None) and not any(c.id in self.results or c.id in self.touched for c in calls):
            return []
        own = [message, *self.results.values()]
        if any(m is o for m in transcript for o in own):  # recorded by the loop already
            return []
        answers = [self.results.get(c.id) or tool_message(c, UNFINISHED + self.touched.get(c.id, "")) for c in calls]
        return answers if message is None else [message, *answers]


def _ids(message: Message) -> list[Any]:
    """The call ids a message names: its calls', or the one it answers."""
    return [c.get("id") for c in message.get("tool_calls") or ()] + [message.get("tool_call_id")]


def in_call_order(messages: list[Message]) -> None:
    """Sort the tool messages after the last assistant message by the order of its calls (a
    resumed run answers its waiting calls after the answers of the calls that ran before it stopped)."""
    at = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "assistant"), None)
    if at is None:
        return
    place = {c.get("id"): n for n, c in enumerate(messages[at].get("tool_calls") or ())}
    end = at + 1
    while end < len(messages) and messages[end].get("role") == "tool":
        end += 1
    messages[at + 1 : end] = sorted(messages[at + 1 : end], key=lambda m: place.get(m.get("tool_call_id"), len(place)))


def tool_message(call: ToolCall, content: str) -> Message:
    return {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content}


def answerable(completion: Completion) -> list[tuple[ToolCall, str | None]]:
    """The calls that get a tool message: the good ones, then one stand-in per malformed block.

    A malformed block has no id on the wire; the stand-in call gives the model a tool message
    that says what to fix, and keeps the transcript valid.
    """
    calls: list[tuple[ToolCall, str | None]] = [(c, None) for c in completion.tool_calls]
    for error in completion.errors:
        stand_in = ToolCall(id=new_call_id(), name="invalid_tool_call", arguments="{}")
        calls.append((stand_in, error.reason))
    return calls


def ran_until(messages: list[Message], start: int) -> int:
    """Where the last answered calls in `messages[start:]` end (their tool messages, and the
    images message after them), or 0 when no call there was answered: the end of the part of a
    failed run's transcript that holds what ran."""
    end = 0
    for i in range(start, len(messages)):
        if messages[i].get("role") == "tool" or (end == i > 0 and messages[i].get(INSERTED) == "images"):
            end = i + 1
    return end

