"""The agent loop: call the model, run its tool calls concurrently, feed the results back."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import anyio

from ._events import ParseEvent, ReasoningDelta, TextDelta, ToolCall, ToolCallReady
from ._model import Completion, CompletionDone, Message, Model, ToolChoice, Usage
from ._tool_runner import Approval, answer, cap, render_result
from .exceptions import ApprovalError, MaxTurnsExceeded, ModelError, UserError
from .formats import new_call_id
from .tools import Tool, tool

__all__ = [
    "Agent",
    "Approval",
    "AgentEvent",
    "RunFinished",
    "RunResult",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnFinished",
    "render_result",
]

logger = logging.getLogger("agentkit")

T = TypeVar("T")
PerTurn: TypeAlias = "T | Callable[[int], T]"
Emit = Callable[[Any], Awaitable[None]]


@dataclass(kw_only=True)
class RunResult:
    """What a finished run produced."""

    output: str
    """The final answer's text."""
    reasoning: str | None
    """The final turn's reasoning, if the model thought."""
    messages: list[Message]
    """The whole transcript, OpenAI dicts, input included."""
    usage: Usage = field(default_factory=Usage)
    """Tokens summed over every model call."""
    turns: int = 0
    """How many model calls the run made."""


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


@dataclass(frozen=True, kw_only=True)
class RunFinished:
    """The run ended with a final answer."""

    result: RunResult
    """The result, as `Agent.run` returns it."""


AgentEvent = ParseEvent | ToolCallStarted | ToolCallFinished | TurnFinished | RunFinished
"""What `Agent.stream` yields."""


def _per_turn(value: Any, turn: int) -> Any:
    return value(turn) if callable(value) else value


AGENT_OPTIONS = (
    "system",
    "thinking",
    "tool_choice",
    "max_turns",
    "tool_timeout",
    "approve",
    "approval_timeout",
    "max_tool_output",
)
"""The `Agent` keyword options; each can also be given per run."""


@dataclass(frozen=True, kw_only=True)
class _Options:
    """One run's settings: the Agent's options with the run's overrides applied."""

    system: str | None
    thinking: PerTurn[bool | None]
    tool_choice: PerTurn[ToolChoice | None]
    max_turns: int
    tool_timeout: float | None
    approve: Approval | None
    approval_timeout: float | None
    max_tool_output: int | None
    model_options: dict[str, Any]


@dataclass
class _Turn:
    """What one model call has produced so far, and the answers to its calls."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    started: list[ToolCall] = field(default_factory=list)
    """Calls dispatched while the model was still streaming, in order."""
    results: dict[str, Message] = field(default_factory=dict)
    hook_failures: dict[str, BaseException] = field(default_factory=dict)

    def ran(self) -> list[Message]:
        """The transcript's end when the model failed after some calls started: an assistant
        message with those calls (and the text so far), then their tool messages."""
        if not self.started:
            return []
        message: Message = {"role": "assistant", "content": "".join(self.text)}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        message["tool_calls"] = [c.to_dict() for c in self.started]
        return [message, *(self.results[c.id] for c in self.started)]


class Agent:
    """Runs a model with tools until it answers without calling one.

    `thinking` and `tool_choice` take one value or a function of the turn number (0 = the
    first model call of the run). `approve(call)` (sync or async) decides whether a call runs:
    True runs it, False or a reason (str) denies it; it may take `approval_timeout` seconds
    (None: the same as `tool_timeout`; `math.inf`: no bound). Every keyword option can be
    overridden per run in `run`, `run_sync` and `stream`, which also take the model's own
    options (such as ``max_tokens``). The object holds no per-run state: many runs may share
    it concurrently.
    """

    def __init__(
        self,
        model: Model,
        tools: Sequence[Tool[Any, Any] | Callable[..., Any]] = (),
        *,
        system: str | None = None,
        thinking: PerTurn[bool | None] = None,
        tool_choice: PerTurn[ToolChoice | None] = None,
        max_turns: int = 20,
        tool_timeout: float | None = None,
        approve: Approval | None = None,
        approval_timeout: float | None = None,
        max_tool_output: int | None = 100_000,
    ) -> None:
        self.model = model
        self.tools: dict[str, Tool[Any, Any]] = {}
        for t in tools:
            t = t if isinstance(t, Tool) else tool(t)
            if t.name in self.tools:
                raise UserError(f"two tools are named {t.name!r}")
            self.tools[t.name] = t
        self.system = system
        self.thinking = thinking
        self.tool_choice = tool_choice
        self.max_turns = max_turns
        self.tool_timeout = tool_timeout
        self.approve = approve
        self.approval_timeout = approval_timeout
        self.max_tool_output = max_tool_output

    # --- public entry points ----------------------------------------------------------------

    async def run(self, input: str | Sequence[Message], **overrides: Any) -> RunResult:
        """Run to a final answer. Raises `UserError` for an unknown keyword, before any model call."""
        options = self._options(overrides)
        return await self._drive(self._start(input, options), options, emit=None)

    def run_sync(self, input: str | Sequence[Message], **overrides: Any) -> RunResult:
        """`run` for scripts: starts an event loop (asyncio) and blocks until the answer."""
        options = self._options(overrides)

        async def main() -> RunResult:
            return await self._drive(self._start(input, options), options, emit=None)

        return anyio.run(main)

    def stream(self, input: str | Sequence[Message], **overrides: Any) -> AsyncIterator[AgentEvent]:
        """Run, yielding events as they happen; the last one is `RunFinished`.

        Tools start as soon as their call is complete in the model's stream. Close the
        iterator (``contextlib.aclosing``) if you stop early. An unknown keyword raises
        `UserError` here, at the call.
        """
        options = self._options(overrides)
        return self._stream(self._start(input, options), options)

    async def _stream(self, messages: list[Message], options: _Options) -> AsyncIterator[AgentEvent]:
        send, receive = anyio.create_memory_object_stream[Any](math.inf)
        failure: list[BaseException] = []

        async def drive() -> None:
            async with send:
                try:
                    await self._drive(messages, options, emit=send.send)
                except Exception as e:  # re-raised below, outside the task group
                    failure.append(e)

        async with anyio.create_task_group() as tg:
            tg.start_soon(drive)
            async with receive:
                try:
                    async for event in receive:
                        yield event
                except GeneratorExit:
                    # The consumer stopped early: cancel the run (model stream and tools), then
                    # finish without yielding again.
                    tg.cancel_scope.cancel()
                    return
        if failure:
            raise failure[0]

    # --- the loop --------------------------------------------------------------------------

    def _options(self, overrides: dict[str, Any]) -> _Options:
        agent = {name: overrides.get(name, getattr(self, name)) for name in AGENT_OPTIONS}
        model_options = {k: v for k, v in overrides.items() if k not in AGENT_OPTIONS}
        # A backend says which options it takes; a user's own model may not, and gets them all.
        accepted = getattr(self.model, "options", None)
        unknown = model_options.keys() & {"tools", "messages"}
        if accepted is not None:
            unknown |= model_options.keys() - set(accepted)
        if unknown:
            takes = ", ".join(sorted(accepted)) if accepted is not None else "any other keyword"
            raise UserError(
                f"unknown option {', '.join(map(repr, sorted(unknown)))}: an Agent takes {', '.join(AGENT_OPTIONS)}; "
                f"{type(self.model).__name__} takes {takes}"
            )
        return _Options(**agent, model_options=model_options)

    @staticmethod
    def _start(input: str | Sequence[Message], options: _Options) -> list[Message]:
        given = [{"role": "user", "content": input}] if isinstance(input, str) else [dict(m) for m in input]
        # A conversation that brings its own system message keeps it; otherwise `system` leads.
        if options.system and not (given and given[0].get("role") == "system"):
            given.insert(0, {"role": "system", "content": options.system})
        return given

    async def _drive(self, messages: list[Message], options: _Options, emit: Emit | None) -> RunResult:
        usage = Usage()
        tools = list(self.tools.values())
        for turn in range(options.max_turns):
            kwargs: dict[str, Any] = {
                "tools": tools or None,
                "thinking": _per_turn(options.thinking, turn),
                "tool_choice": _per_turn(options.tool_choice, turn),
                **options.model_options,
            }
            logger.debug("turn %d: calling the model with %d messages", turn, len(messages))
            state = _Turn()
            try:
                if emit is None:
                    completion = await self.model.complete(messages, **kwargs)
                else:
                    completion = await self._stream_turn(messages, kwargs, options, state, emit)
            except UserError:
                raise
            except Exception as e:
                # Tools started early have finished by now: the transcript records what they did,
                # so resuming from it does not run them again.
                ran = [*messages, *state.ran()]
                if isinstance(e, ModelError):
                    e.messages = ran
                    raise
                raise ModelError(f"the model failed: {type(e).__name__}: {e}", messages=ran) from e
            usage += completion.usage
            calls = _answerable(completion)
            # The final message should hold every call the stream announced; one it lacks still
            # ran, so it is kept: the transcript records what ran, whatever the backend did.
            known = {c.id for c, _ in calls}
            calls += [(c, None) for c in state.started if c.id not in known]
            started = {c.id for c in state.started}
            await self._answer_all([c for c in calls if c[0].id not in started], options, state, emit)
            message = completion.message
            if calls:
                message["tool_calls"] = [c.to_dict() for c, _ in calls]
            messages.append(message)
            messages.extend(state.results[c.id] for c, _ in calls)
            for call, _ in calls:  # the run stops after the turn's calls are answered
                cause = state.hook_failures.get(call.id)
                if cause is not None:
                    raise ApprovalError(
                        f"the approval hook failed on call {call.id} ({call.name}): {type(cause).__name__}: {cause}",
                        messages=list(messages),
                    ) from cause
            if emit is not None:
                await emit(TurnFinished(turn=turn, completion=completion))
            if not calls:
                result = RunResult(
                    output=completion.content,
                    reasoning=completion.reasoning,
                    messages=messages,
                    usage=usage,
                    turns=turn + 1,
                )
                if emit is not None:
                    await emit(RunFinished(result=result))
                return result
        raise MaxTurnsExceeded(f"no final answer after {options.max_turns} model calls", messages=list(messages))

    async def _stream_turn(
        self, messages: list[Message], kwargs: dict[str, Any], options: _Options, state: _Turn, emit: Emit
    ) -> Completion:
        """Stream one model call, starting each tool call as soon as it is complete."""
        completion: Completion | None = None
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            stream = self.model.stream(messages, **kwargs)
            try:
                async for event in stream:
                    if isinstance(event, CompletionDone):
                        completion = event.completion
                        continue
                    if isinstance(event, TextDelta):
                        state.text.append(event.text)
                    elif isinstance(event, ReasoningDelta):
                        state.reasoning.append(event.text)
                    await emit(event)
                    if isinstance(event, ToolCallReady):
                        state.started.append(event.call)
                        tg.start_soon(self._answer, event.call, None, options, state, emit)
                if completion is None:
                    raise ModelError("the model's stream ended without a completion")
            except Exception as e:
                # Raised below, outside the task group, unwrapped. The tools already started are
                # not cancelled: their side effects happen anyway, so they finish (within
                # tool_timeout) and the error's transcript records their real results.
                failure = e
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with anyio.CancelScope(shield=True):
                        await aclose()
        if failure is not None:
            raise failure
        assert completion is not None
        return completion

    async def _answer_all(
        self, calls: list[tuple[ToolCall, str | None]], options: _Options, state: _Turn, emit: Emit | None
    ) -> None:
        if len(calls) == 1:  # no task group needed for one call
            await self._answer(*calls[0], options, state, emit)
        elif calls:
            async with anyio.create_task_group() as tg:
                for call, error in calls:
                    tg.start_soon(self._answer, call, error, options, state, emit)

    async def _answer(
        self, call: ToolCall, malformed: str | None, options: _Options, state: _Turn, emit: Emit | None
    ) -> None:
        """Run one call and record its tool message. Never raises (but for cancellation)."""
        if emit is not None:
            await emit(ToolCallStarted(call=call))
        outcome = await answer(
            call,
            malformed,
            self.tools,
            approve=options.approve,
            approval_timeout=options.tool_timeout if options.approval_timeout is None else options.approval_timeout,
            tool_timeout=options.tool_timeout,
        )
        if outcome.hook_failure is not None:
            state.hook_failures[call.id] = outcome.hook_failure
        # Every tool message is capped, error text included: it all goes into the model's context.
        content = cap(outcome.content, options.max_tool_output)
        state.results[call.id] = {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content}
        if emit is not None:
            await emit(ToolCallFinished(call=call, content=content, error=outcome.error))


def _answerable(completion: Completion) -> list[tuple[ToolCall, str | None]]:
    """The calls that get a tool message: the good ones, then one stand-in per malformed block.

    A malformed block has no id on the wire; the stand-in call gives the model a tool message
    that says what to fix, and keeps the transcript valid.
    """
    calls: list[tuple[ToolCall, str | None]] = [(c, None) for c in completion.tool_calls]
    for error in completion.errors:
        stand_in = ToolCall(id=new_call_id(), name="invalid_tool_call", arguments="{}")
        calls.append((stand_in, error.reason))
    return calls
