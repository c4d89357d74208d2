"""The loop's seam: a run capability takes part in a run at fixed points, through one interface.

The loop (`_agent.py`) does what every run does: call the model, run the calls, keep the
transcript valid, count turns. Everything else (typed output, usage limits, approvals, history
fitting, session storage, tracing, a user's guardrail) is a `Capability`: the loop calls each
of a run's capabilities, in order, at the points below. A method a capability does not
override is never called, so a run pays nothing for a point nobody uses.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from ._approvals import PENDING, SUBRUNS, last_assistant
from ._context import RunContext
from ._events import ToolCall
from ._messages import Message, Usage
from ._model import Completion
from ._options import RunOptions
from ._result import RunResult
from ._turn import Turn
from .exceptions import AgentError, CapabilityError
from .tools import Tool

__all__ = [
    "CallAnswer",
    "Capability",
    "Final",
    "Hold",
    "Hooks",
    "ModelRequest",
    "ModelResponse",
    "RunState",
    "TurnEnd",
    "failure",
    "global_capabilities",
    "set_global",
]


@dataclass(kw_only=True)
class RunState:
    """One run, as its capabilities see it (one object per run, shared by all of them)."""

    agent: Any
    """The `Agent` that runs."""
    options: RunOptions
    """The run's options: the agent's, with the run's overrides applied."""
    messages: list[Message]
    """The transcript, as the loop builds it: the record of what the run sent and what ran. A
    capability may add messages to it; only the session store replaces it (in `run_started`,
    with the history first)."""
    tools: dict[str, Tool[Any, Any]]
    """The run's tools by name: the agent's functions and its toolsets' tools (the run's own dict)."""
    usage: Usage = field(default_factory=Usage)
    """Tokens and calls so far."""
    turn: int = 0
    """The current model call (0 = the run's first)."""
    early: bool = True
    """Whether a call may start while the model is still streaming its message; a capability
    that must see the whole message first (approvals, token limits) sets it False in `run_started`."""
    text_answers: bool = True
    """Whether a response without tool calls is the run's answer (its text); a capability that
    decides the answer itself (typed output) sets it False in `run_started`."""
    current: Turn | None = None
    """The turn in progress: what the model has produced so far and the answers to its calls."""
    snapshot: list[Message] = field(default_factory=list)
    """The transcript as the current turn's tools see it (`RunContext.messages`)."""
    hooks: Hooks = field(default_factory=lambda: Hooks([]))
    """The run's capabilities by point (a handoff changes the agent's own among them)."""
    emit: Callable[[Any], Awaitable[None]] | None = None
    """Sends an event to the caller's stream (None: the caller does not stream)."""
    parent: RunState | None = None
    """The run that called this one as a tool (`Agent.as_tool`): its usage counts this run's."""
    children: list[RunState] = field(default_factory=list)
    """The sub-runs this run started (agents called as tools), in order."""
    delegated: Usage = field(default_factory=Usage)
    """The part of `usage` that sub-runs used (`RunResult.turns` counts only this run's own calls)."""
    stack: AsyncExitStack | None = None
    """What the run keeps open until it ends (its toolsets' connections, a handoff target's included)."""
    holds: dict[str, Hold] = field(default_factory=dict)
    """The current turn's calls that wait instead of being answered (a sub-run that stopped for
    approval), by call id: the run stops with them pending."""

    def context(self, call: ToolCall, *, transcript: bool = True) -> RunContext[Any]:
        """The `RunContext` of a tool that runs `call` now (`transcript=False`: with no messages,
        for a tool that never reads them, such as an MCP server's: the copy costs per call)."""
        usage = dataclasses.replace(self.usage)  # a copy: the run goes on counting
        # A deep copy: a tool must not be able to rewrite the transcript.
        messages = copy.deepcopy(self.snapshot) if transcript else []
        return RunContext(deps=self.options.deps, usage=usage, turn=self.turn, messages=messages, call=call, _run=self)

    def ticket(self, call: ToolCall) -> int:
        """`call`'s place in its message's order, taken as it is dispatched."""
        assert self.current is not None
        tool = self.tools.get(call.name)
        sequential = not self.options.parallel_tools or bool(getattr(tool, "sequential", False))
        return self.current.order.ticket(sequential)

    def result(self, output: Any, completion: Completion | None, **more: Any) -> RunResult[Any]:
        """The run's result, ending with `output` (`completion`: the last response, for its reasoning)."""
        reasoning = completion.reasoning if completion is not None else None
        turns = self.usage.requests - self.delegated.requests  # this run's own model calls
        return RunResult(output=output, reasoning=reasoning, messages=self.messages, usage=self.usage, turns=turns,
                         agent=self.agent.name, **more)  # fmt: skip

    def held(self, response: ModelResponse) -> RunResult[Any]:
        """The result of a run that stops because calls wait (`holds`): the message (marked with
        the waiting calls and what resumes them), then the answers of its other calls, end the transcript."""
        turn = self.current
        assert turn is not None
        if response.resumed:  # the message is in the transcript already: it gets the new marks
            message = last_assistant(self.messages)
        else:
            message = response.message
            self.messages.append(message)
        message[PENDING] = list(self.holds)
        message[SUBRUNS] = {call_id: hold.record for call_id, hold in self.holds.items()}
        self.messages.extend(turn.results[c.id] for c in turn.calls if c.id in turn.results)
        pending = [c for hold in self.holds.values() for c in hold.calls]
        return self.result(None, response.completion, pending=pending)

    def spend(self, usage: Usage) -> None:
        """Count `usage` (a model call's) in this run and in the runs that called it."""
        self.usage = self.usage + usage
        run = self.parent
        while run is not None:
            run.usage, run.delegated = run.usage + usage, run.delegated + usage
            run = run.parent

    def count_call(self) -> None:
        """Count a tool call that runs now."""
        self.spend(Usage(tool_calls=1))


@dataclass(kw_only=True)
class Hold:
    """A call that waits for the caller's decisions instead of being answered now."""

    calls: list[ToolCall]
    """The calls that need a decision (a sub-run's pending calls)."""
    record: dict[str, Any]
    """What a resume needs, kept on the assistant message (JSON: it may go into a session)."""


@dataclass(kw_only=True)
class ModelRequest:
    """What the next model call sends; `before_request` may change both fields."""

    messages: list[Message]
    """The messages to send: a copy of the transcript, to change what is sent (add to
    `run.messages` to change the transcript)."""
    options: dict[str, Any]
    """The keyword arguments of `Model.complete`/`stream`: ``tools``, ``thinking``,
    ``tool_choice`` and the model's own options."""


@dataclass(kw_only=True)
class ModelResponse:
    """A response whose calls are about to be answered."""

    completion: Completion | None
    """The model's response (None for a resumed run's waiting message, already in the transcript)."""
    message: Message
    """The assistant message that goes into the transcript."""
    calls: list[ToolCall]
    """Its well-formed calls, in order (malformed blocks are answered by the loop)."""
    resumed: bool = False
    """True for the calls a run that stopped for approval left waiting, answered as this run starts."""
    pending: list[ToolCall] = field(default_factory=list)
    """Calls that must wait for the caller's decision: set by `after_response`, they end the run
    before any call of the message runs (`RunResult.pending`), and a resume needs a decision on
    each (`approvals=`). Ignored on a resumed response."""


@dataclass(kw_only=True)
class CallAnswer:
    """How a tool call was answered (by its tool, or by a capability instead)."""

    content: str
    """The tool message's text, for the model."""
    error: str | None = None
    """None, or what went wrong, for the caller (`ToolCallFinished.error`)."""
    error_type: str | None = None
    """The name of the exception's type, when the error is an exception's."""
    fail: Exception | None = None
    """An error the run then fails with, once the turn's calls are all answered (before
    `TurnFinished`): an approval hook that broke, a limit that was reached."""

    @classmethod
    def not_run(cls, why: str, *, fail: Exception | None = None) -> CallAnswer:
        """The answer of a call that did not run, saying why."""
        return cls(content=f"Error: this call was not run: {why}.", error=why, fail=fail)


@dataclass(kw_only=True)
class TurnEnd:
    """A turn whose calls are all answered and in the transcript."""

    response: ModelResponse
    """The response the turn answered."""
    answers: dict[str, Message]
    """The tool messages, by call id (malformed blocks' stand-ins included)."""


@dataclass(frozen=True, kw_only=True)
class Final:
    """`after_turn`'s verdict that the run ends with `output`."""

    output: Any
    """The run's output (`RunResult.output`)."""


class Capability:
    """A part of a run. Subclass it and override the points you need; pass instances to
    ``Agent(..., capabilities=[...])`` (a run's own come after the agent's). The loop calls the
    run's capabilities in order (agentkit's own first: session storage, approvals, typed output,
    history fitting; then yours; then usage limits and tracing), but for the points after a model
    or a tool call (`request_failed`, `after_response`, `after_call`), which unwind in reverse
    order. An exception a method raises ends the run (as a `CapabilityError` when it is not
    agentkit's); in `before_call` the call is then answered "not run", and in `before_call` or
    `after_call` the run fails once the turn's other calls are done. `run_failed` may raise
    another error, which replaces the run's.

    An `Agent` holds no per-run state, and neither should a capability it is given: `for_run`
    returns the object that takes part in one run (by default the capability itself).
    """

    early_dispatch: bool = False
    """Whether a response's calls may start while the model still streams it, before this
    capability's `after_response` has seen the whole response (it matters only when it overrides
    `after_response`). Leave it False if it may set `pending`; set it True if it only observes."""

    def for_run(self, run: RunState) -> Capability | None:
        """Called as a run starts, before any other point: the object that takes part in this run
        (a fresh one, for per-run state), or None to stay out of it."""
        return self

    async def run_started(self, run: RunState) -> None:
        """The run starts: its tools are connected, no model call has been made."""

    async def before_request(self, run: RunState, request: ModelRequest) -> None:
        """A model call is about to be made: change `request` to change what is sent."""

    async def request_failed(self, run: RunState, error: BaseException) -> None:
        """The model call failed (the run fails with `error`, or a `ModelError` around it)."""

    async def after_response(self, run: RunState, response: ModelResponse) -> None:
        """A response arrived (or a resumed run's waiting calls are about to be answered). Set
        `response.pending` to stop the run for approval; raise a `RunError` to end the run
        (the message's calls that have not run are then answered "not run")."""

    async def before_call(self, run: RunState, call: ToolCall, tool: Tool[Any, Any] | None) -> CallAnswer | None:
        """A call is about to run (`tool`: its tool; None when there is no such tool). Return a
        `CallAnswer` to answer it instead: the tool does not run, and later capabilities'
        `before_call` are skipped (its `fail` fails the run once the turn's calls are answered)."""
        return None

    async def after_call(self, run: RunState, call: ToolCall, answer: CallAnswer) -> None:
        """A call was answered (cut to `max_tool_output`): every capability hears of every call."""

    async def after_turn(self, run: RunState, turn: TurnEnd) -> Final | None:
        """A turn's calls are answered and in the transcript (and `TurnFinished` was emitted).
        Return `Final` to end the run with an output; append to `run.messages` to add a message
        for the next model call; raise to end the run with an error."""
        return None

    async def run_finished(self, run: RunState, result: RunResult[Any]) -> None:
        """The run ends with `result` (a final answer, or calls waiting for approval)."""

    async def run_failed(self, run: RunState, error: BaseException) -> None:
        """The run fails with `error` (a cancellation included): raise another error to replace it."""


_POINTS = ("run_started", "before_request", "request_failed", "after_response", "before_call", "after_call",
           "after_turn", "run_finished", "run_failed")  # fmt: skip


_UNWINDING = ("request_failed", "after_response", "after_call")


class Hooks:
    """A run's capabilities, by the points each one overrides (so an unused point costs nothing)."""

    __slots__ = ("all", "early", "agents", *_POINTS)

    def __init__(self, capabilities: list[Capability], agents: list[Capability] | None = None) -> None:
        self.all = capabilities
        self.agents = agents or []
        """Those that belong to the agent that runs (its own, its typed output and history): a
        handoff replaces them."""
        for point in _POINTS:
            base = getattr(Capability, point)
            overriding = [c for c in capabilities if getattr(type(c), point) is not base]
            # The points after a model or tool call unwind those before it: the last in, the first out.
            setattr(self, point, overriding[::-1] if point in _UNWINDING else overriding)
        self.early = all(c.early_dispatch for c in self.after_response)
        """Whether every capability that sees responses lets their calls start early."""

    run_started: list[Capability]
    before_request: list[Capability]
    request_failed: list[Capability]
    after_response: list[Capability]
    before_call: list[Capability]
    after_call: list[Capability]
    after_turn: list[Capability]
    run_finished: list[Capability]
    run_failed: list[Capability]


def failure(run: RunState, error: BaseException) -> BaseException:
    """`error` as the run fails with it: an exception that is not agentkit's (a capability's)
    becomes a `CapabilityError` holding the transcript and the calls that ran."""
    if not isinstance(error, Exception) or isinstance(error, AgentError):
        return error
    messages = list(run.messages)
    if run.current is not None:
        messages += run.current.unfinished(messages)
    wrapped = CapabilityError(f"a run capability raised {type(error).__name__}: {error}", messages=messages)
    wrapped.__cause__ = error
    return wrapped


_global: dict[str, Callable[[RunState], Capability | None]] = {}
"""Capabilities every run gets, after its own (tracing's, while `instrument()` is on), by name."""


def set_global(name: str, factory: Callable[[RunState], Capability | None] | None) -> None:
    """Give every run from now on `factory(run)`'s capability (None: stop)."""
    if factory is None:
        _global.pop(name, None)
    else:
        _global[name] = factory


def global_capabilities() -> list[Callable[[RunState], Capability | None]]:
    """The factories of the capabilities every run gets."""
    return list(_global.values())
