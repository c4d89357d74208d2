"""One run's result in a batch, and its line in the JSONL output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python

from .._events import ToolCall
from .._model import Message, Usage


@dataclass(kw_only=True)
class BatchResult:
    """What one input of a batch produced: the run's answer, or why it failed."""

    id: Any
    """The input's id: its ``"id"``, or its position (an int) in the inputs."""
    output: Any = None
    """The run's final answer (None when it failed)."""
    messages: list[Message] = field(default_factory=list)
    """The run's transcript (empty when it failed, or when read back from the output file on resume,
    unless the run stopped for approval)."""
    pending: list[ToolCall] = field(default_factory=list)
    """The calls waiting for approval when the run stopped before them (`messages` ends with the
    message that made them: ``agent.run(messages, approvals=...)`` goes on); empty otherwise."""
    usage: Usage = field(default_factory=Usage)
    """Tokens the run used."""
    turns: int = 0
    """How many model calls the run made."""
    error: str | None = None
    """None, or ``"<ExceptionType>: <message>"`` of what stopped the run."""
    seconds: float = 0.0
    """How long the run took, wall clock."""
    skipped: bool = False
    """True when this input was not run: a resume found its result in the output file (read back from there)."""


def describe(error: BaseException) -> str:
    """An exception as a result's `error`: its type and message."""
    return f"{type(error).__name__}: {error}"


def to_line(result: BatchResult) -> dict[str, Any]:
    """The JSON object the output file holds for `result` (the transcript only when calls wait for approval)."""
    line = {
        "id": result.id,
        # A typed answer (a pydantic model, a dataclass) becomes its JSON form; anything else, its str.
        "output": to_jsonable_python(result.output, fallback=str),
        "error": result.error,
        "usage": {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens},
        "turns": result.turns,
        "seconds": round(result.seconds, 6),
        "pending": [call.to_dict() for call in result.pending],
    }
    if result.pending:  # what it takes to decide on them later, in this process or another
        line["messages"] = to_jsonable_python(result.messages, fallback=str)
    return line


def from_line(line: dict[str, Any]) -> BatchResult:
    """A result read back from the output file (its output as JSON; a transcript only for a run
    that stopped for approval)."""
    usage = line.get("usage") or {}
    return BatchResult(
        id=line["id"],
        output=line.get("output"),
        usage=Usage(prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0)),
        turns=line.get("turns", 0),
        error=line.get("error"),
        seconds=line.get("seconds", 0.0),
        pending=[ToolCall.from_dict(c) for c in line.get("pending") or () if isinstance(c, dict)],
        messages=list(line.get("messages") or ()),
    )
