"""Events shared by the stream parser, the model backends and the agent loop."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    """One tool call as on the wire."""

    id: str
    """Unique id; tool results refer to it as ``tool_call_id``."""
    name: str
    """Name of the tool to call."""
    arguments: str
    """The arguments, a JSON object as a string (as the model wrote it)."""

    def to_dict(self) -> dict[str, object]:
        """The OpenAI ``tool_calls`` entry."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    @classmethod
    def from_dict(cls, entry: dict[str, object]) -> ToolCall:
        """A call from an OpenAI ``tool_calls`` entry (arguments given as a dict are encoded)."""
        function = entry.get("function")
        function = function if isinstance(function, dict) else {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
        return cls(id=str(entry.get("id") or ""), name=str(function.get("name") or ""), arguments=arguments)


@dataclass(frozen=True, kw_only=True)
class MalformedCall:
    """A tool call block that could not be read; kept so the model can be told."""

    raw: str
    """The block as the model wrote it, tags included."""
    reason: str
    """What is wrong, in words for the model."""


# The delta classes are the hot path of streaming (one per token): slotted, not frozen,
# because a frozen dataclass's __init__ costs several times more.
@dataclass(slots=True)
class TextDelta:
    """A piece of visible content."""

    text: str


@dataclass(slots=True)
class ReasoningDelta:
    """A piece of reasoning (thinking) text."""

    text: str


@dataclass(frozen=True, kw_only=True)
class ToolCallOpened:
    """The model began a tool call; its name is known, its arguments follow."""

    index: int
    """Position of the call in the message (0, 1, ...), shared by its later events."""
    id: str
    """The id the call will have."""
    name: str
    """The tool's name."""


@dataclass(slots=True, kw_only=True)
class ToolCallArgsDelta:
    """A piece of a call's arguments JSON; the pieces concatenated are `ToolCall.arguments`."""

    index: int
    """Which call."""
    text: str
    """The piece."""


@dataclass(frozen=True, kw_only=True)
class ToolCallReady:
    """A call is complete and well-formed: it can run now, before the message ends."""

    index: int
    """Which call."""
    call: ToolCall
    """The call."""


@dataclass(frozen=True, kw_only=True)
class ToolCallMalformed:
    """A call block turned out unreadable; it is reported, not run."""

    index: int
    """Which call."""
    error: MalformedCall
    """The raw block and what is wrong with it."""


ParseEvent = TextDelta | ReasoningDelta | ToolCallOpened | ToolCallArgsDelta | ToolCallReady | ToolCallMalformed
"""What a stream parser emits."""
