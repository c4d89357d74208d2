"""The agent loop: call the model, run its tool calls concurrently, feed the results back.

What every run does is here; the rest of a run (typed output, limits, approvals, history,
sessions, tracing, a user's own) takes part through `Capability` (`_capability.py`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any, Generic, TypeAlias, overload

import anyio
from typing_extensions import TypeVar, Unpack

from ._approvals import PENDING, settle, waiting_calls
from ._bridge import Emit, events
from ._capabilities import hooks_for
from ._capability import CallAnswer, Capability, ModelRequest, ModelResponse, RunState, TurnEnd, failure
from ._events import ToolCall
from ._handoffs import check_handoffs, check_identity
from ._limits import UsageLimits
from ._marks import outgoing
from ._model import Completion, Message, Model, ToolChoice, Usage
from ._options import AgentKeywords, PerTurn, RunOptions, output_spec, per_turn, resolve, start
from ._order import WAITS
from ._output import OutputMode
from ._result import AgentEvent, RunFinished, RunResult, ToolCallFinished, ToolCallStarted, TurnFinished
from ._streaming import stream_turn
from ._subagents import agent_tool
from ._tool_runner import Approval, answer, cap
from ._toolsets import Toolset, open_tools
from ._turn import Turn, in_call_order, tool_message
from .exceptions import MaxTurnsExceeded, ModelError, RunError, UserError
from .sessions import History
from .tools import Tool, tool

__all__ = ["Agent"]

logger = logging.getLogger("agentkit")

T = TypeVar("T")
OutputT = TypeVar("OutputT", default=str)
_Tools: TypeAlias = "Sequence[Tool[Any, Any] | Toolset | Callable[..., Any]]"


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
    messages are stored when it ends), ``record`` (True: `RunResult.trajectory` holds the run's
    exact tokens, docs/trajectories.md) and the model's own options (such as ``max_tokens``).
    `history` (an `agentkit.sessions.History`) bounds what each model call is sent;
    `capabilities` (`agentkit.Capability`) take part in every run; `parallel_tools=False` runs
    a message's calls one at a time, in order (a `sequential` tool's call always waits for the
    calls before it). `name` and `description` tell other agents about this one: `as_tool`
    makes it a tool of another agent, `handoffs` lets this one hand the conversation over
    (docs/agents.md). The object holds no per-run state: many runs may share it concurrently.
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
        capabilities: Sequence[Capability] = (),
        parallel_tools: bool = True,
        name: str = "agent",
        description: str | None = None,
        handoffs: Sequence[Agent[Any]] = (),
    ) -> None:
        self.name, self.description = check_identity(name, description)
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
        self.capabilities = list(capabilities)
        self.parallel_tools = parallel_tools
        self._output = output_spec(output_type, self.tools)
        self.handoffs: list[Agent[Any]] = check_handoffs(self, handoffs)

    def as_tool(self, name: str | None = None, description: str | None = None) -> Tool[..., Any]:
        """This agent as a tool of another (its one parameter: ``input``, the sub-run's question).
        A call runs it as a new conversation belonging to the calling run (docs/agents.md)."""
        return agent_tool(self, name, description)

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
        messages = start(input, options)
        return events(lambda emit: self._drive(messages, options, emit))

    def _options(self, overrides: dict[str, Any]) -> RunOptions:
        return resolve(self, self.model, overrides)

    # --- the loop --------------------------------------------------------------------------

    async def _drive(
        self, messages: list[Message], options: RunOptions, emit: Emit | None, parent: RunState | None = None
    ) -> RunResult[Any]:
        messages = settle(messages, options.approvals)
        run = RunState(agent=self, options=options, messages=messages, tools=dict(self.tools), emit=emit, parent=parent)
        if parent is not None:  # a sub-run: its caller can tell what it did if it fails
            parent.children.append(run)
        run.hooks, closing = hooks_for(run), False
        try:
            # Toolsets connect before the first model call and disconnect before the run's end is told.
            async with AsyncExitStack() as stack:
                run.stack = stack
                if self.toolsets:
                    run.tools = await open_tools(self.tools, self.toolsets, stack)
                for c in run.hooks.run_started:
                    await c.run_started(run)
                result = await self._loop(run, emit)
                closing = True  # an error now is a toolset's, as it disconnects
            for c in run.hooks.run_finished:
                await c.run_finished(run, result)
        except BaseException as error:
            error = error if closing else failure(run, error)
            for c in run.hooks.run_failed:
                try:
                    await c.run_failed(run, error)
                except BaseException as replaced:  # e.g. a SessionError: the calls that ran are not stored
                    error = replaced
            raise error
        if emit is not None:
            await emit(RunFinished(result=result))
        return result

    async def _loop(self, run: RunState, emit: Emit | None) -> RunResult[Any]:
        run.early = run.early and run.hooks.early
        waiting = waiting_calls(run.messages)
        if waiting:  # the calls a run that stopped for approval left waiting: answered first
            run.current, run.snapshot = Turn(calls=waiting), list(run.messages)
            resumed = ModelResponse(completion=None, message={}, calls=waiting, resumed=True)
            result = await self._settle(run, resumed, [(c, None) for c in waiting], emit)
            if result is not None:
                return result
        for turn in range(run.options.max_turns):
            run.turn = turn
            completion = await self._request(run, emit)
            run.spend(completion.usage + Usage(requests=1))
            message, calls = run.current.message_of(completion)  # type: ignore[union-attr]
            response = ModelResponse(completion=completion, message=message, calls=[c for c, e in calls if e is None])
            result = await self._settle(run, response, calls, emit)
            if result is not None:
                return result
        turns = run.options.max_turns
        raise MaxTurnsExceeded(f"no final answer after {turns} model calls", messages=list(run.messages))

    async def _request(self, run: RunState, emit: Emit | None) -> Completion:
        """One model call (streamed when the caller streams), with the run's capabilities around it."""
        o, state, hooks = run.options, Turn(), run.hooks
        model: Model = run.agent.model  # a handoff changes the agent
        tools = list(run.tools.values())
        request = ModelRequest(messages=list(run.messages), options={"tools": tools or None, **o.model_options,
            "thinking": per_turn(o.thinking, run.turn), "tool_choice": per_turn(o.tool_choice, run.turn)})  # fmt: skip
        for c in hooks.before_request:
            await c.before_request(run, request)
        run.current, run.snapshot = state, list(run.messages)
        sent = outgoing(request.messages)  # stored and returned: all of the transcript
        logger.debug("turn %d: calling the model with %d messages", run.turn, len(sent))
        try:
            if emit is None:
                completion = await model.complete(sent, **request.options)
            else:
                answer_now = lambda call: self._answer(call, None, run, emit, run.ticket(call))  # noqa: E731
                completion = await stream_turn(model.stream(sent, **request.options), run, emit, answer_now)
            return state.own_ids(completion, run.messages)  # one id, one call, in the whole transcript
        except BaseException as e:
            for c in hooks.request_failed:
                await c.request_failed(run, e)
            if isinstance(e, UserError) or not isinstance(e, Exception):
                raise
            # Tools started early have finished by now: the transcript records what they did,
            # so resuming from it does not run them again.
            ran = [*run.messages, *state.ran()]
            if isinstance(e, ModelError):
                e.messages = ran
                raise
            raise ModelError(f"the model failed: {type(e).__name__}: {e}", messages=ran) from e

    async def _settle(
        self, run: RunState, response: ModelResponse, calls: list[tuple[ToolCall, str | None]], emit: Emit | None
    ) -> RunResult[Any] | None:
        """Answer a response's calls and keep the transcript valid; the result when the run ends here."""
        state, message, completion, hooks = run.current, response.message, response.completion, run.hooks
        assert state is not None
        try:
            for c in hooks.after_response:
                await c.after_response(run, response)
        except RunError as e:  # a capability ends the run: the calls not yet started do not run
            if response.resumed:  # they stay waiting (a resume that could not claim them)
                raise
            for call, _ in calls:
                state.results.setdefault(call.id, tool_message(call, f"Error: this call was not run: {e}"))
            run.messages.extend([message, *(state.results[c.id] for c, _ in calls)])
            e.messages = list(run.messages)
            raise
        started = {c.id for c in state.started}
        # A call that ran early waits for nothing; a resume's calls are answered now.
        pending = [] if response.resumed else [c for c in response.pending if c.id not in started]
        if pending:  # the message ends the transcript (after the answers of calls that ran early)
            if len(response.calls) < len(calls):  # a malformed block has no id to answer later
                logger.info("dropping %d malformed call(s) from a message that waits for approval",
                            len(calls) - len(response.calls))  # fmt: skip
            message["tool_calls"] = [c.to_dict() for c in response.calls]
            message[PENDING] = [c.id for c in pending]  # a resume needs a decision on each
            run.messages.extend([message, *(state.results[c.id] for c in state.started)])
            if emit is not None:
                await emit(TurnFinished(turn=run.turn, completion=completion, messages=list(run.messages)))  # type: ignore[arg-type]
            return run.result(None, completion, pending=pending)
        state.message, state.calls = (None if response.resumed else message), [c for c, _ in calls]
        await self._answer_all([c for c in calls if c[0].id not in started], run, emit)
        if run.holds:  # a call waits for decisions (a sub-run's): the run stops, the others' answers kept
            result = run.held(response)
            if emit is not None and completion is not None:
                await emit(TurnFinished(turn=run.turn, completion=completion, messages=list(run.messages)))
            return result
        if not response.resumed:
            run.messages.append(message)
        run.messages.extend(state.answers(state.calls))
        if response.resumed:  # answers given before the run stopped come first: put all in call order
            in_call_order(run.messages)
        failed = next((state.failures[c.id] for c in state.calls if c.id in state.failures), None)
        if failed is not None:
            if isinstance(failed, RunError):
                failed.messages = list(run.messages)
            raise failed
        if emit is not None and completion is not None:
            await emit(TurnFinished(turn=run.turn, completion=completion, messages=list(run.messages)))
        end, final = TurnEnd(response=response, answers=state.results), None
        for c in hooks.after_turn:
            final = await c.after_turn(run, end) or final
        if completion is None:  # a resume
            return None if final is None else run.result(final.output, None)
        if final is not None:
            return run.result(final.output, completion)
        return run.result(completion.content, completion) if not calls and run.text_answers else None

    async def _answer_all(self, calls: list[tuple[ToolCall, str | None]], run: RunState, emit: Emit | None) -> None:
        if len(calls) == 1:  # no task group needed for one call
            await self._answer(*calls[0], run, emit, run.ticket(calls[0][0]))
        elif calls:
            async with anyio.create_task_group() as tg:
                for call, error in calls:
                    tg.start_soon(self._answer, call, error, run, emit, run.ticket(call))

    async def _answer(
        self, call: ToolCall, malformed: str | None, run: RunState, emit: Emit | None, place: int
    ) -> None:
        """Run one call at its `place` in the message's order (unless a capability answers it) and
        record its tool message. Never raises (but for cancellation): a capability's exception is
        kept in the turn, raised after it."""
        assert run.current is not None
        async with run.current.order.turn(place) as blocked:  # a call it waited for did not finish
            await self._answer_now(call, malformed, run, emit, CallAnswer.not_run(blocked) if blocked else None)
            if call.id in run.current.abandoned:
                run.current.order.abandon(place)
            elif call.id in run.holds:  # the calls that must wait for it are not run: the run stops
                run.current.order.abandon(place, WAITS)

    async def _answer_now(
        self, call: ToolCall, malformed: str | None, run: RunState, emit: Emit | None, found: CallAnswer | None
    ) -> None:
        state, o, hooks = run.current, run.options, run.hooks
        assert state is not None
        if emit is not None:
            await emit(ToolCallStarted(call=call))
        tool = None if malformed is not None else run.tools.get(call.name)
        try:
            for c in () if found is not None else hooks.before_call:
                if (found := await c.before_call(run, call, tool)) is not None:
                    break
            if found is None:
                reads = getattr(tool, "reads_transcript", True)  # an MCP tool's context needs no copy of it
                outcome = await answer(call, malformed, run.tools, tool_timeout=o.tool_timeout, count=run.count_call,
                                       context=lambda: run.context(call, transcript=reads))  # fmt: skip
                if outcome.images and getattr(run.agent.model, "takes_images", False) is True:
                    state.images[call.id] = outcome.images
                if outcome.abandoned:
                    state.abandoned.add(call.id)
                found = CallAnswer(content=outcome.content, error=outcome.error, error_type=outcome.error_type)
        except Exception as e:  # a capability failed before the tool could run
            found = CallAnswer.not_run(type(e).__name__, fail=e)
        # Every tool message is capped, error text included: it all goes into the model's context.
        found.content = cap(found.content, o.max_tool_output)
        if found.fail is not None:
            state.failures[call.id] = found.fail
        for c in hooks.after_call:  # every capability hears of every call
            try:
                await c.after_call(run, call, found)
            except Exception as e:
                state.failures.setdefault(call.id, e)
        if call.id in run.holds:  # no answer yet: the run stops with it pending
            return
        state.results[call.id] = tool_message(call, found.content)
        if emit is not None:
            await emit(ToolCallFinished(call=call, content=found.content, error=found.error))
