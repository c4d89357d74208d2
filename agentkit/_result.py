"""What a run produces: its result, and the events `Agent.stream` yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic

from typing_extensions import TypeVar

from ._events import ParseEvent, ToolCall
from ._messages import Message, Usage
from ._model import Completion
from ._trajectory import Trajectory

__all__ = [
    "AgentEvent",
    "Handoff",
    "RunFinished",
    "RunResult",
    "SubAgentEvent",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolProgress",
    "TurnFinished",
]

OutputT = TypeVar("OutputT", default=str)


@dataclass(kw_only=True)
class RunResult(Generic[OutputT]):
    """What a finished run produced."""

    output: OutputT
    """The final answer: its text, or a value of the agent's `output_type` (None while calls are pending)."""
    reasoning: str | None
    """The final turn's reasoning, if the model thought."""
    messages: list[Message]
    """The whole transcript, OpenAI dicts, input included."""
    usage: Usage = field(default_factory=Usage)
    """Tokens summed over every model call."""
    turns: int = 0
    """How many model calls the run made."""
    pending: list[ToolCall] = field(default_factory=list)
    """Calls waiting for the caller's decision (tools with ``requires_approval``, a sub-agent's
    among them); resume with ``agent.run(result.messages, approvals={call.id: True | False | "reason"})``."""
    agent: str = "agent"
    """The name of the agent that gave the final answer (or whose calls wait): the first agent's,
    unless the run was handed off."""
    trajectory: Trajectory | None = None
    """The run's exact tokens with ``record=True`` (None otherwise): see `Trajectory`."""


@dataclass(frozen=True, kw_only=True)
class ToolCallStarted:
    """A tool begins to run."""

    call: ToolCall
    """The call being run."""


@dataclass(frozen=True, kw_only=True)
class ToolCallFinished:
    """A tool call is answered."""

    call: ToolCall
    """The call."""
    content: str
    """The text sent back to the model."""
    error: str | None = None
    """None, or what went wrong (also told to the model in `content`)."""


@dataclass(frozen=True, kw_only=True)
class TurnFinished:
    """A model call and its tool calls are done."""

    turn: int
    """0 for the first model call of the run."""
    completion: Completion
    """The model's response of this turn."""
    messages: list[Message] = field(default_factory=list)
    """The transcript so far, this turn's answers included: what a resume or a new question goes on from."""


@dataclass(frozen=True, kw_only=True)
class RunFinished:
    """The run ended with a final answer."""

    result: RunResult
    """The result, as `Agent.run` returns it."""


@dataclass(frozen=True, kw_only=True)
class Handoff:
    """The run goes on with another agent (a ``transfer_to_<name>`` call was answered)."""

    source: str
    """The name of the agent that handed off."""
    target: str
    """The name of the agent that takes over."""


@dataclass(frozen=True, kw_only=True)
class SubAgentEvent:
    """An event of a sub-run: an agent called as a tool (`Agent.as_tool`) while the caller streams."""

    agent: str
    """The sub-agent's name."""
    call: ToolCall
    """The calling run's tool call that runs the sub-agent."""
    event: AgentEvent
    """The sub-run's event (itself a `SubAgentEvent` when the sub-agent calls another)."""


@dataclass(frozen=True, kw_only=True)
class ToolProgress:
    """A running tool says how far it got (an MCP server's progress notification)."""

    call: ToolCall
    """The call that is running."""
    progress: float
    """How far it got; grows with each event of one call."""
    total: float | None = None
    """Where it ends, when the tool knows."""
    message: str | None = None
    """What it is doing, in the tool's words (untrusted text)."""


AgentEvent = (
    ParseEvent
    | ToolCallStarted
    | ToolProgress
    | ToolCallFinished
    | TurnFinished
    | Handoff
    | SubAgentEvent
    | RunFinished
)
"""What `Agent.stream` yields."""
