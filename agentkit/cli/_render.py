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
from .._result import (
    AgentEvent,
    Handoff,
    RunFinished,
    RunResult,
    SubAgentEvent,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from ._visible import visible

_DIM, _BOLD, _CYAN, _RESET = "\033[2m", "\033[1m", "\033[36m", "\033[0m"


class EventPrinter:
    """Prints a run as it streams: the reasoning (dimmed on a terminal), each tool call and its
    result, the answer, and a last line with the number of model calls and tokens. Control
    characters in what the model and the tools sent are shown as text (``\\x1b``), never acted on.

    A sub-agent's work (`SubAgentEvent`) is indented under the call that runs it, each line
    starting with the sub-agent's name (a sub-agent's sub-agent further in); a handoff is a line
    ``[source → target]``, and the last line names the agent that answered when it is not the first.

    `color`: None colours only when `out` is a terminal. A tool result longer than `max_result`
    characters is shortened on screen (the model still gets all of it).
    """

    def __init__(self, out: TextIO | None = None, *, color: bool | None = None, max_result: int = 500) -> None:
        self.out = out if out is not None else sys.stdout
        if color is None:
            color = self.out.isatty()
        self.dim, self.bold, self.cyan, self.reset = (_DIM, _BOLD, _CYAN, _RESET) if color else ("", "", "", "")
        self.max_result = max_result
        self._section: object = None
        """What the last text written belongs to: "reasoning", "text", "tool", a sub-run's
        (calls, kind), or None; text of another part starts a line of its own."""
        self._first: str | None = None
        """The name of the agent the run began with, once known (`run`, or a handoff's source)."""

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def question(self, text: str) -> None:
        """Show the user's question."""
        self._write(f"{self.bold}user:{self.reset} {visible(text)}\n")

    def event(self, event: AgentEvent) -> None:
        """Show one event."""
        if isinstance(event, SubAgentEvent):
            self._sub_event(event)
        elif isinstance(event, Handoff):
            self._first = self._first or event.source
            self._write(f"{self.reset}\n{self.dim}{_handoff(event)}{self.reset}")
            self._section = None
        elif isinstance(event, ReasoningDelta):
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
            content = self._shortened(event.content)
            self._write(f"\n{self.cyan}  <- {visible(event.call.name)}:{self.reset} {visible(content)}")
        elif isinstance(event, TurnFinished):
            self._section = None
        elif isinstance(event, RunFinished):
            result = event.result
            first, self._first = self._first, None
            named = f", answered by {visible(result.agent)}" if first is not None and result.agent != first else ""
            self._write(f"{self.reset}\n\n{self.dim}[{result.turns} model calls, {result.usage.total_tokens} tokens"
                        f"{named}]{self.reset}\n")  # fmt: skip
            self._section = None

    def _sub_event(self, event: SubAgentEvent) -> None:
        """A sub-run's event, on lines indented one step per level of sub-agents."""
        agent, calls, inner = event.agent, [event.call.id], event.event
        while isinstance(inner, SubAgentEvent):
            agent, calls, inner = inner.agent, [*calls, inner.call.id], inner.event
        indent = "  " * (len(calls) + 1)
        name, more = visible(agent), "\n" + indent + "  "  # the next lines of a text keep its indent

        def shown(text: str) -> str:
            return visible(text).replace("\n", more)

        if isinstance(inner, (ReasoningDelta, TextDelta)):
            kind = "reasoning" if isinstance(inner, ReasoningDelta) else "text"
            if self._section != (tuple(calls), kind):
                head = f"{self.dim}{name} thinking: " if kind == "reasoning" else f"{self.bold}{name}:{self.reset} "
                self._write(f"{self.reset}\n{indent}{head}")
                self._section = (tuple(calls), kind)
            self._write(shown(inner.text))
            return
        if isinstance(inner, ToolCallStarted):
            call = inner.call
            self._write(f"{self.reset}\n{indent}{self.cyan}{name} -> {visible(call.name)}({shown(call.arguments)})"
                        f"{self.reset}")  # fmt: skip
        elif isinstance(inner, ToolCallFinished):
            head = f"{self.reset}\n{indent}{self.cyan}{name} <- {visible(inner.call.name)}"
            if inner.error:
                self._write(f"{head} failed:{self.reset} {shown(inner.error)}")
            else:
                self._write(f"{head}:{self.reset} {shown(self._shortened(inner.content))}")
        elif isinstance(inner, Handoff):
            self._write(f"{self.reset}\n{indent}{self.dim}{_handoff(inner)}{self.reset}")
        elif not isinstance(inner, TurnFinished):  # what the parser saw before a call is ready; the sub-run's end
            return
        self._section = None

    def _shortened(self, content: str) -> str:
        """A tool result shortened to `max_result` characters for the screen."""
        if len(content) > self.max_result:
            return f"{content[: self.max_result]}… ({len(content) - self.max_result} more characters)"
        return content

    def interrupted(self, why: str) -> None:
        """End the line of an answer that stopped early, saying why."""
        self._write(f"{self.reset}\n{self.dim}[{visible(why)}]{self.reset}\n")
        self._section = None

    async def run(self, agent: Agent[Any], input: str | Sequence[Message], **overrides: Any) -> RunResult[Any]:
        """Stream ``agent.stream(input, **overrides)``, printing each event; return its result."""
        result: RunResult[Any] | None = None
        self._first = agent.name
        async with aclosing(agent.stream(input, **overrides)) as events:  # type: ignore[type-var]
            async for event in events:
                self.event(event)
                if isinstance(event, RunFinished):
                    result = event.result
        assert result is not None  # a stream that ends without raising ends with RunFinished
        return result


def result_dict(result: RunResult[Any]) -> dict[str, Any]:
    """A run's result as JSON-ready data: ``output``, ``reasoning``, ``messages``, ``usage``, ``turns``,
    ``pending``, ``agent``."""
    return {
        "output": _plain(result.output),
        "reasoning": result.reasoning,
        "messages": result.messages,
        "usage": {**dataclasses.asdict(result.usage), "total_tokens": result.usage.total_tokens},
        "turns": result.turns,
        "pending": [call.to_dict() for call in result.pending],
        "agent": result.agent,
    }


def _handoff(event: Handoff) -> str:
    return f"[{visible(event.source)} → {visible(event.target)}]"


def _plain(value: Any) -> Any:
    """An `output_type` value as JSON data (a pydantic model, a dataclass); other values unchanged."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value
