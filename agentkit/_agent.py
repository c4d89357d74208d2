"""The agent loop: call the model, run its tool calls concurrently, feed the results back."""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, overload

import anyio
from typing_extensions import TypeVar, Unpack

from ._approvals import decided, needing_approval, open_calls, unanswered
from ._context import RunContext
from ._events import ParseEvent, ReasoningDelta, TextDelta, ToolCall, ToolCallReady
from ._hooks import NOOP, Observer, observer
from ._limits import UsageLimits
from ._marks import outgoing
from ._model import Completion, CompletionDone, Message, Model, ToolChoice, Usage
from ._options import AgentKeywords, PerTurn, RunOptions, output_spec, per_turn, resolve, start
from ._output import FINAL_RESULT, InvalidOutput, OutputMode
from ._store import Store, opening
from ._tool_runner import Approval, Outcome, answer, cap, render_result
from ._toolsets import Toolset, open_tools
from ._turn import Turn, answerable, tool_message
from .exceptions import MaxTurnsExceeded, ModelError, UsageLimitExceeded, UserError
from .sessions import History, fit
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
OutputT = TypeVar("OutputT", default=str)
_Tools: TypeAlias = "Sequence[Tool[Any, Any] | Toolset | Callable[..., Any]]"
Emit = Callable[[Any], Awaitable[None]]


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
    """Calls waiting for the caller's decision (tools with ``requires_approval``); resume with
    ``agent.run(result.messages, approvals={call.id: True | False | "reason"})``."""


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


AgentEvent = ParseEvent | ToolCallStarted | ToolCallFinished | TurnFinished | RunFinished
"""What `Agent.stream` yields."""


@dataclass
class _Run:
    """What a run carries from turn to turn."""

    usage: Usage = field(default_factory=Usage)
    turn: int = 0
    snapshot: list[Message] = field(default_factory=list)
    """The transcript as the current turn's tools see it."""
    tools: dict[str, Tool[Any, Any]] = field(default_factory=dict)
    """The run's tools: the agent's functions and its toolsets' tools, by name."""
    over_limit: bool = False
    """A tool call was refused by `max_tool_calls`."""
    observer: Observer = NOOP
    """Who watches the run (tracing); does nothing by default."""
    store: Store = field(default_factory=lambda: Store(session=None, messages=[], stored=0, input_end=0))
    """What the run has stored in its session, and the calls it has claimed."""


class Agent(Generic[OutputT]):
    """Runs a model with tools until it answers without calling one.

    `thinking` and `tool_choice` take one value or a function of the turn number (0 = the
    first model call of the run). `approve(call)` (sync or async) decides whether a call runs:
    True runs it, False or a reason (str) denies it; it may take `approval_timeout` seconds
    (None: the same as `tool_timeout`; `math.inf`: no bound). `output_type` makes the answer a
    typed value (see `output_mode`, `output_retries`); `usage_limits` bounds the run. Every
    keyword option can be overridden per run in `run`, `run_sync` and `stream`, which also
    take ``deps`` (given to tools as `RunContext.deps`), ``approvals`` (decisions on pending
    calls), ``session`` (an `agentkit.sessions.Session`: its history goes first, the run's new
    messages are stored when it ends) and the model's own options (such as ``max_tokens``).
    `history` (an `agentkit.sessions.History`) bounds what each model call is sent. The object holds no per-run
    state: many runs may share it concurrently.
    """

    # A type checker learns `OutputT` from `output_type` (str without it); a special form such as
    # `Literal[...]` or a union is not a `type`, so such an agent is an `Agent[Any]`.
    @overload
    def __init__(self: Agent[str], model: Model, tools: _Tools = (), **options: Unpack[AgentKeywords]) -> None: ...
    @overload
    def __init__(
        self, model: Model, tools: _Tools = (), *, output_type: type[OutputT], **options: Unpack[AgentKeywords]
    ) -> None: ...
    @overload
    def __init__(
        self: Agent[Any], model: Model, tools: _Tools = (), *, output_type: object, **options: Unpack[AgentKeywords]
    ) -> None: ...
    def __init__(
        self,
        model: Model,
        tools: _Tools = (),
        *,
        system: str | None = None,
        thinking: PerTurn[bool | None] = None,
        tool_choice: PerTurn[ToolChoice | None] = None,
        max_turns: int = 20,
        tool_timeout: float | None = None,
        approve: Approval | None = None,
        approval_timeout: float | None = None,
        max_tool_output: int | None = 100_000,
        output_type: Any = str,
        output_mode: OutputMode = "auto",
        output_retries: int = 2,
        usage_limits: UsageLimits | None = None,
        deps_type: Any = None,
        history: History | None = None,
    ) -> None:
        self.model = model
        self.tools: dict[str, Tool[Any, Any]] = {}
        self.toolsets: list[Toolset] = []
        for t in tools:
            if isinstance(t, Toolset):
                self.toolsets.append(t)
                continue
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
        self.output_type = output_type
        self.output_mode = output_mode
        self.output_retries = output_retries
        self.usage_limits = usage_limits
        self.deps_type = deps_type
        self.history = history
        self._output = output_spec(output_type, self.tools)

    # --- public entry points ----------------------------------------------------------------

    async def run(self, input: str | Sequence[Message], **overrides: Any) -> RunResult[OutputT]:
        """Run to a final answer (or to calls that wait for approval).

        Raises `UserError` for an unknown keyword, before any model call.
        """
        options = self._options(overrides)
        return await self._drive(start(input, options), options, emit=None)

    def run_sync(self, input: str | Sequence[Message], **overrides: Any) -> RunResult[OutputT]:
        """`run` for scripts: starts an event loop (asyncio) and blocks until the answer."""
        options = self._options(overrides)

        async def main() -> RunResult[OutputT]:
            return await self._drive(start(input, options), options, emit=None)

        return anyio.run(main)

    def stream(self, input: str | Sequence[Message], **overrides: Any) -> AsyncIterator[AgentEvent]:
        """Run, yielding events as they happen; the last one is `RunFinished`.

        Tools start as soon as their call is complete in the model's stream (unless a tool
        needs approval: then a message's calls start once the message is complete). Close the
        iterator (``contextlib.aclosing``) if you stop early. An unknown keyword raises
        `UserError` here, at the call.
        """
        options = self._options(overrides)
        return self._stream(start(input, options), options)

    async def _stream(self, messages: list[Message], options: RunOptions) -> AsyncIterator[AgentEvent]:
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

    def _options(self, overrides: dict[str, Any]) -> RunOptions:
        return resolve(self, self.model, overrides)

    # --- the loop --------------------------------------------------------------------------

    async def _drive(self, messages: list[Message], options: RunOptions, emit: Emit | None) -> RunResult[Any]:
        messages, store = await opening(options.session, messages, options.approvals)
        with observer(self, messages) as watch:
            async with store.keeping_what_ran(), AsyncExitStack() as stack:
                # Toolsets connect before the first model call and disconnect when the run ends.
                tools = await open_tools(self.tools, self.toolsets, stack) if self.toolsets else self.tools
                if options.mode == "tool" and FINAL_RESULT in tools:
                    raise UserError(f"a toolset has a tool named {FINAL_RESULT!r}, which the typed output needs")
                run = _Run(observer=watch, store=store, tools=tools)
                return await self._loop(messages, options, run, emit)

    async def _loop(self, messages: list[Message], options: RunOptions, run: _Run, emit: Emit | None) -> RunResult[Any]:
        resumed = await self._resume(messages, options, run, emit)
        if resumed is not None and resumed.finals:
            return await self._finish(options, run, resumed, None, messages, emit)
        tools: list[Any] = list(run.tools.values())
        if options.mode == "tool":
            tools.append(options.output.tool_schema)
        # A message's calls wait for the whole message when one of them may need approval, or
        # when a token limit may refuse the whole response.
        early = not any(t.requires_approval for t in run.tools.values()) and not options.usage_limits.limits_tokens
        # An invalid final_result among the resumed calls was an attempt too.
        retries = 1 if resumed is not None and resumed.invalid else 0
        if retries > options.output_retries:
            assert resumed is not None
            raise options.output.invalid(options.output_retries, resumed.invalid, messages)
        for turn in range(options.max_turns):
            run.turn, run.snapshot = turn, list(messages)
            options.usage_limits.check_request(run.usage, messages)
            kwargs: dict[str, Any] = {
                "tools": tools or None,
                "thinking": per_turn(options.thinking, turn),
                "tool_choice": per_turn(options.tool_choice, turn),
                **options.model_options,
            }
            if options.mode == "json" and "response_format" not in kwargs and self._takes("response_format"):
                kwargs["response_format"] = options.output.response_format
            logger.debug("turn %d: calling the model with %d messages", turn, len(messages))
            state = run.store.track(Turn())
            sent = outgoing(fit(messages, options.history, self.model))  # stored and returned: all of `messages`
            try:
                with run.observer.chat(sent, kwargs) as step:
                    if emit is None:
                        completion = await self.model.complete(sent, **kwargs)
                    else:
                        completion = await self._stream_turn(sent, kwargs, options, run, state, emit, early)
                    completion = state.own_ids(completion, messages)  # one id, one call, in the whole transcript
                    step.completion(completion)
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
            run.usage = run.usage + completion.usage + Usage(requests=1)
            calls = answerable(completion)
            # The final message should hold every call the stream announced; one it lacks still
            # ran, so it is kept: the transcript records what ran, whatever the backend did.
            known = {c.id for c, _ in calls}
            calls += [(c, None) for c in state.started if c.id not in known]
            message = completion.message
            if calls:
                message["tool_calls"] = [c.to_dict() for c, _ in calls]
            over = options.usage_limits.token_problem(run.usage)
            if over is not None:  # the calls not yet started do not run
                for call, _ in calls:
                    state.results.setdefault(call.id, tool_message(call, "Error: this call was not run: " + over))
                messages.append(message)
                messages.extend(state.results[c.id] for c, _ in calls)
                raise UsageLimitExceeded(over, usage=run.usage, messages=list(messages))
            pending = needing_approval([c for c, error in calls if error is None], run.tools)
            if pending:
                return await self._stop_for_approval(completion, message, calls, pending, messages, options, run, emit)
            started, state.message, state.calls = {c.id for c in state.started}, message, [c for c, _ in calls]
            await self._answer_all([c for c in calls if c[0].id not in started], options, run, state, emit)
            messages.append(message)
            messages.extend(state.answers([c for c, _ in calls]))
            _stop_if_failed([c for c, _ in calls], state, run, options, messages)
            if emit is not None:
                await emit(TurnFinished(turn=turn, completion=completion, messages=list(messages)))
            if state.finals or (not calls and options.mode != "json" and options.mode != "tool"):
                return await self._finish(options, run, state, completion, messages, emit)
            problems = self._problems(options, completion, calls, state)
            if problems is None:
                if not calls:  # a valid JSON answer
                    return await self._finish(options, run, state, completion, messages, emit)
                continue
            retries += 1
            if retries > options.output_retries:
                raise options.output.invalid(options.output_retries, problems, messages)
            if not calls:
                messages.append(options.output.retry_message(options.mode, problems))  # type: ignore[arg-type]
        raise MaxTurnsExceeded(f"no final answer after {options.max_turns} model calls", messages=list(messages))

    def _takes(self, option: str) -> bool:
        accepted = getattr(self.model, "options", None)
        return accepted is None or option in accepted

    @staticmethod
    def _problems(
        options: RunOptions, completion: Completion, calls: list[tuple[ToolCall, str | None]], state: Turn
    ) -> list[str] | None:
        """What is wrong with this turn's answer (None: nothing, or not an answer yet)."""
        if options.mode == "tool":
            if state.invalid:
                return state.invalid
            return None if calls else [f"the answer was not given with the {FINAL_RESULT} tool"]
        if calls:
            return None
        try:
            state.finals["content"] = options.output.from_text(completion.content)
        except InvalidOutput as e:
            return e.problems
        return None

    async def _finish(
        self,
        options: RunOptions,
        run: _Run,
        state: Turn,
        completion: Completion | None,
        messages: list[Message],
        emit: Emit | None,
    ) -> RunResult[Any]:
        output = next(iter(state.finals.values())) if state.finals else (completion.content if completion else "")
        result: RunResult[Any] = RunResult(
            output=output,
            reasoning=completion.reasoning if completion else None,
            messages=messages,
            usage=run.usage,
            turns=run.usage.requests,
        )
        return await self._end(result, options, run, emit)

    @staticmethod
    async def _end(result: RunResult[Any], options: RunOptions, run: _Run, emit: Emit | None) -> RunResult[Any]:
        """A run's end: the session stores the run's new messages, then the caller hears of it."""
        await run.store.finish(result)
        run.observer.finished(result)
        if emit is not None:
            await emit(RunFinished(result=result))
        return result

    async def _stop_for_approval(
        self,
        completion: Completion,
        message: Message,
        calls: list[tuple[ToolCall, str | None]],
        pending: list[ToolCall],
        messages: list[Message],
        options: RunOptions,
        run: _Run,
        emit: Emit | None,
    ) -> RunResult[Any]:
        """End the run before any call of this message runs; the transcript ends with it."""
        kept = [c for c, error in calls if error is None]
        if len(kept) < len(calls):
            # A malformed block has no id to answer later: it is left out of the waiting message.
            logger.info("dropping %d malformed call(s) from a message that waits for approval", len(calls) - len(kept))
        message["tool_calls"] = [c.to_dict() for c in kept]
        messages.append(message)
        result: RunResult[Any] = RunResult(
            output=None,
            reasoning=completion.reasoning,
            messages=messages,
            usage=run.usage,
            turns=run.usage.requests,
            pending=pending,
        )
        if emit is not None:
            await emit(TurnFinished(turn=run.turn, completion=completion, messages=list(messages)))
        return await self._end(result, options, run, emit)

    async def _resume(self, messages: list[Message], options: RunOptions, run: _Run, emit: Emit | None) -> Turn | None:
        """Answer the calls a stopped run left waiting, with the caller's decisions."""
        waiting = unanswered(messages)
        stuck = sorted(set(open_calls(messages)) - {c.id for c in waiting})
        if stuck:
            # A new message after calls that never got an answer: no server takes that.
            raise UserError(
                f"the conversation has tool calls without answers ({', '.join(stuck)}): resume the run that "
                "stopped for approval (its messages and approvals=) before adding a new message"
            )
        if not waiting:
            if options.approvals:
                raise UserError("approvals were given, but no call in the conversation is waiting for one")
            return None
        state = run.store.track(Turn(calls=waiting))
        state.decisions = decided(waiting, run.tools, options.approvals)
        run.snapshot = list(messages)
        await run.store.claim(waiting)  # before anything runs: another resume may be at this point too
        await self._answer_all([(c, None) for c in waiting], options, run, state, emit)
        messages.extend(state.answers(waiting))
        await run.store.save_answers()  # before the next model call: a retry must find them answered
        _stop_if_failed(waiting, state, run, options, messages)
        return state

    async def _stream_turn(
        self,
        messages: list[Message],
        kwargs: dict[str, Any],
        options: RunOptions,
        run: _Run,
        state: Turn,
        emit: Emit,
        early: bool,
    ) -> Completion:
        """Stream one model call, starting each tool call as soon as it is complete (if `early`)."""
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
                    event = state.own_ids(event, run.snapshot)
                    await emit(event)
                    if early and isinstance(event, ToolCallReady):
                        state.started.append(event.call)
                        tg.start_soon(self._answer, event.call, None, options, run, state, emit)
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
        self, calls: list[tuple[ToolCall, str | None]], options: RunOptions, run: _Run, state: Turn, emit: Emit | None
    ) -> None:
        if len(calls) == 1:  # no task group needed for one call
            await self._answer(*calls[0], options, run, state, emit)
        elif calls:
            async with anyio.create_task_group() as tg:
                for call, error in calls:
                    tg.start_soon(self._answer, call, error, options, run, state, emit)

    async def _answer(
        self, call: ToolCall, malformed: str | None, options: RunOptions, run: _Run, state: Turn, emit: Emit | None
    ) -> None:
        """Run one call and record its tool message. Never raises (but for cancellation)."""
        if emit is not None:
            await emit(ToolCallStarted(call=call))
        with run.observer.tool(call) as step:
            outcome = await self._outcome(call, malformed, options, run, state)
            # Every tool message is capped, error text included: it all goes into the model's context.
            content = cap(outcome.content, options.max_tool_output)
            step.answered(content, outcome.error, outcome.error_type)
        if outcome.hook_failure is not None:
            state.hook_failures[call.id] = outcome.hook_failure
        if outcome.images and getattr(self.model, "takes_images", False) is True:
            state.images[call.id] = outcome.images
        state.results[call.id] = tool_message(call, content)
        if emit is not None:
            await emit(ToolCallFinished(call=call, content=content, error=outcome.error))

    async def _outcome(
        self, call: ToolCall, malformed: str | None, options: RunOptions, run: _Run, state: Turn
    ) -> Outcome:
        if options.mode == "tool" and call.name == FINAL_RESULT and malformed is None:
            return self._final_result(call, options, state)

        def permit() -> bool:
            if not options.usage_limits.tool_call_allowed(run.usage):
                run.over_limit = True
                return False
            run.usage.tool_calls += 1
            return True

        def context() -> RunContext[Any]:
            usage = dataclasses.replace(run.usage)  # a copy: the run goes on counting
            # A deep copy: a tool must not be able to rewrite the transcript.
            messages = copy.deepcopy(run.snapshot)
            return RunContext(deps=options.deps, usage=usage, turn=run.turn, messages=messages, call=call)

        return await answer(
            call,
            malformed,
            run.tools,
            approve=options.approve,
            approval_timeout=options.tool_timeout if options.approval_timeout is None else options.approval_timeout,
            tool_timeout=options.tool_timeout,
            decision=state.decisions.get(call.id),
            permit=permit,
            context=context,
        )

    @staticmethod
    def _final_result(call: ToolCall, options: RunOptions, state: Turn) -> Outcome:
        try:
            state.finals[call.id] = options.output.from_arguments(call.arguments)
        except InvalidOutput as e:
            state.invalid.extend(e.problems)
            text = options.output.problems_text(e.problems)
            return Outcome(f"Error: invalid {FINAL_RESULT}:\n{text}\nCall {FINAL_RESULT} again with this fixed.",
                           "invalid output: " + "; ".join(e.problems))  # fmt: skip
        return Outcome("Final result accepted.", None)


def _stop_if_failed(
    calls: list[ToolCall], state: Turn, run: _Run, options: RunOptions, messages: list[Message]
) -> None:
    """After a turn's calls are answered: raise if the approval hook failed or a limit was hit."""
    state.raise_hook_failure(calls, messages)
    if run.over_limit:
        limit = options.usage_limits.max_tool_calls
        raise UsageLimitExceeded(f"max_tool_calls={limit} reached", usage=run.usage, messages=list(messages))
