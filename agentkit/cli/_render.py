"""One terminal renderer for a run's events, shared by ``agentkit run``, ``agentkit chat`` and the weather bot."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from contextlib import aclosing
from typing import Any, TextIO

from .._agent import Agent
from .._events import ReasoningDelta, TextDelta
from .._model import Message
from .._result import AgentEvent, RunFinished, RunResult, ToolCallFinished, ToolCallStarted, TurnFinished
from ._visible import visible

_DIM, _BOLD, _CYAN, _RESET = "\033[2m", "\033[1m", "\033[36m", "\033[0m"


class EventPrinter:
    """Prints a run as it streams: the reasoning (dimmed on a terminal), each tool call and its
    result, the answer, and a last line with the number of model calls and tokens. Control
    characters in what the model and the tools sent are shown as text (``\\x1b``), never acted on.

    `color`: None colours only when `out` is a terminal. A tool result longer than `max_result`
    characters is shortened on screen (the model still gets all of it).
    """

    def __init__(self, out: TextIO | None = None, *, color: bool | None = None, max_result: int = 500) -> None:
        self.out = out if out is not None else sys.stdout
        if color is None:
            color = self.out.isatty()
        self.dim, self.bold, self.cyan, self.reset = (_DIM, _BOLD, _CYAN, _RESET) if color else ("", "", "", "")
        self.max_result = max_result
        self._section: str | None = None

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def question(self, text: str) -> None:
        """Show the user's question."""
        self._write(f"{self.bold}user:{self.reset} {visible(text)}\n")

    def event(self, event: AgentEvent) -> None:
        """Show one event."""
        if isinstance(event, ReasoningDelta):
            if self._section != "reasoning":
                self._write(f"\n{self.dim}thinking: ")
                self._section = "reasoning"
            self._write(visible(event.text))
        elif isinstance(event, TextDelta):
            if self._section != "text":
                self._write(f"{self.reset}\n{self.bold}assistant:{self.reset} ")
                self._section = "text"
            self._write(visible(event.text))
        elif isinstance(event, ToolCallStarted):
            call = event.call
            self._write(f"{self.reset}\n{self.cyan}  -> {visible(call.name)}({visible(call.arguments)}){self.reset}")
            self._section = "tool"
        elif isinstance(event, ToolCallFinished):
            if event.error:  # the model is told more (`content`); the person needs what failed
                self._write(f"\n{self.cyan}  <- {visible(event.call.name)} failed:{self.reset} {visible(event.error)}")
                return
            content = event.content
            if len(content) > self.max_result:
                content = f"{content[: self.max_result]}… ({len(content) - self.max_result} more characters)"
            self._write(f"\n{self.cyan}  <- {visible(event.call.name)}:{self.reset} {visible(content)}")
        elif isinstance(event, TurnFinished):
            self._section = None
        elif isinstance(event, RunFinished):
            result = event.result
            self._write(f"{self.reset}\n\n{self.dim}[{result.turns} model calls, {result.usage.total_tokens} tokens]"
                        f"{self.reset}\n")  # fmt: skip
            self._section = None

    def interrupted(self, why: str) -> None:
        """End the line of an answer that stopped early, saying why."""
        self._write(f"{self.reset}\n{self.dim}[{visible(why)}]{self.reset}\n")
        self._section = None

    async def run(self, agent: Agent[Any], input: str | Sequence[Message], **overrides: Any) -> RunResult[Any]:
        """Stream ``agent.stream(input, **overrides)``, printing each event; return its result."""
        result: RunResult[Any] | None = None
        async with aclosing(agent.stream(input, **overrides)) as events:  # type: ignore[type-var]
            async for event in events:
                self.event(event)
                if isinstance(event, RunFinished):
                    result = event.result
        assert result is not None  # a stream that ends without raising ends with RunFinished
        return result


def result_dict(result: RunResult[Any]) -> dict[str, Any]:
    """A run's result as JSON-ready data: ``output``, ``reasoning``, ``messages``, ``usage``, ``turns``, ``pending``."""
    return {
        "output": _plain(result.output),
        "reasoning": result.reasoning,
        "messages": result.messages,
        "usage": {**dataclasses.asdict(result.usage), "total_tokens": result.usage.total_tokens},
        "turns": result.turns,
        "pending": [call.to_dict() for call in result.pending],
    }


def _plain(value: Any) -> Any:
    """An `output_type` value as JSON data (a pydantic model, a dataclass); other values unchanged."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value
