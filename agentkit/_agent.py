"""The agent loop: call the model, run its tool calls concurrently, feed the results back."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import anyio
import pydantic

from ._events import ParseEvent, ToolCall, ToolCallReady
from ._model import Completion, CompletionDone, Message, Model, ToolChoice, Usage
from .exceptions import MaxTurnsExceeded, ModelError, ToolError, UserError
from .formats import new_call_id
from .tools import Tool, tool

__all__ = [
    "Agent",
    "AgentEvent",
    "RunFinished",
    "RunResult",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnFinished",
]

logger = logging.getLogger("agentkit")

T = TypeVar("T")
PerTurn: TypeAlias = "T | Callable[[int], T]"
Approval = Callable[[ToolCall], "bool | str | Awaitable[bool | str]"]


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


AgentEvent = (
    ParseEvent | ToolCallStarted | ToolCallFinished | TurnFinished | RunFinished
)
"""What `Agent.stream` yields."""


def _per_turn(value: Any, turn: int) -> Any:
    return value(turn) if callable(value) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def render_result(value: Any) -> str:
    """A tool's return value as the text the model reads: a str as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=_jsonable)


@dataclass(kw_only=True)
class _Options:
    thinking: PerTurn[bool | None]
    tool_choice: PerTurn[ToolChoice | None]
    max_turns: int
    tool_timeout: float | None
    model_options: dict[str, Any]


class Agent:
    """Runs a model with tools until it answers without calling one.

    `thinking` and `tool_choice` take one value or a function of the turn number (0 = the
    first model call of the run); `run`, `run_sync` and `stream` accept them (and
    `max_turns`, `tool_timeout`, model options such as ``max_tokens``) as overrides.
    The object holds no per-run state: many runs may share it concurrently.
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
        self.max_tool_output = max_tool_output

    # --- public entry points ----------------------------------------------------------------

    async def run(self, input: str | Sequence[Message], **overrides: Any) -> RunResult:
        """Run to a final answer."""
        return await self._drive(self._start(input), self._options(overrides), emit=None)

    def run_sync(self, input: str | Sequence[Message], **overrides: Any) -> RunResult:
        """`run` for scripts: starts an event loop (asyncio) and blocks until the answer."""

        async def main() -> RunResult:
            return await self.run(input, **overrides)

        return anyio.run(main)

    async def stream(self, input: str | Sequence[Message], **overrides: Any) -> AsyncIterator[AgentEvent]:
        """Run, yielding events as they happen; the last one is `RunFinished`.

        Tools start as soon as their call is complete in the model's stream. Close the
        iterator (``contextlib.aclosing``) if you stop early.
        """
        messages, options = self._start(input), self._options(overrides)
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

    def _start(self, input: str | Sequence[Message]) -> list[Message]:
        given = [{"role": "user", "content": input}] if isinstance(input, str) else [dict(m) for m in input]
        # A conversation that brings its own system message keeps it; otherwise `system` leads.
        if self.system and not (given and given[0].get("role") == "system"):
            given.insert(0, {"role": "system", "content": self.system})
        return given

    def _options(self, overrides: dict[str, Any]) -> _Options:
        def pick(name: str) -> Any:
            return overrides.pop(name) if name in overrides else getattr(self, name)

        return _Options(
            thinking=pick("thinking"),
            tool_choice=pick("tool_choice"),
            max_turns=pick("max_turns"),
            tool_timeout=pick("tool_timeout"),
            model_options=overrides,
        )

    async def _drive(
        self,
        messages: list[Message],
        options: _Options,
        emit: Callable[[Any], Awaitable[None]] | None,
    ) -> RunResult:
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
            results: dict[str, Message] = {}
            try:
                if emit is None:
                    completion = await self.model.complete(messages, **kwargs)
                    calls = _answerable(completion)
                    await self._answer_all(calls, set(), options, results, None)
                else:
                    completion, calls = await self._stream_turn(messages, kwargs, options, results, emit)
            except ModelError as e:
                e.messages = list(messages)
                raise
            except UserError:
                raise
            except Exception as e:
                raise ModelError(f"the model failed: {type(e).__name__}: {e}", messages=list(messages)) from e
            usage += completion.usage
            message = completion.message
            if calls:
                message["tool_calls"] = [c.to_dict() for c, _ in calls]
            messages.append(message)
            messages.extend(results[c.id] for c, _ in calls)
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
        raise MaxTurnsExceeded(
            f"no final answer after {options.max_turns} model calls", messages=list(messages)
        )

    async def _answer_all(
        self,
        calls: list[tuple[ToolCall, str | None]],
        started: set[str],
        options: _Options,
        results: dict[str, Message],
        emit: Callable[[Any], Awaitable[None]] | None,
    ) -> None:
        pending = [(c, e) for c, e in calls if c.id not in started]
        if len(pending) == 1:  # no task group needed for one call
            await self._answer(*pending[0], options, results, emit)
        elif pending:
            async with anyio.create_task_group() as tg:
                for call, error in pending:
                    tg.start_soon(self._answer, call, error, options, results, emit)

    async def _stream_turn(
        self,
        messages: list[Message],
        kwargs: dict[str, Any],
        options: _Options,
        results: dict[str, Message],
        emit: Callable[[Any], Awaitable[None]],
    ) -> tuple[Completion, list[tuple[ToolCall, str | None]]]:
        completion: Completion | None = None
        failure: BaseException | None = None
        started: set[str] = set()
        async with anyio.create_task_group() as tg:
            stream = self.model.stream(messages, **kwargs)
            try:
                async for event in stream:
                    if isinstance(event, CompletionDone):
                        completion = event.completion
                        continue
                    await emit(event)
                    if isinstance(event, ToolCallReady):
                        # Early dispatch: the call is complete, the message may not be.
                        started.add(event.call.id)
                        tg.start_soon(self._answer, event.call, None, options, results, emit)
                if completion is None:
                    raise ModelError("the model's stream ended without a completion")
            except Exception as e:  # raised below, outside the task group, unwrapped
                failure = e
                tg.cancel_scope.cancel()
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with anyio.CancelScope(shield=True):
                        await aclose()
        if failure is not None:
            raise failure
        assert completion is not None
        calls = _answerable(completion)
        await self._answer_all(calls, started, options, results, emit)
        return completion, calls

    async def _answer(
        self,
        call: ToolCall,
        malformed: str | None,
        options: _Options,
        results: dict[str, Message],
        emit: Callable[[Any], Awaitable[None]] | None,
    ) -> None:
        """Run one call and record its tool message. Never raises (but for cancellation)."""
        results[call.id] = {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": ""}
        if emit is not None:
            await emit(ToolCallStarted(call=call))
        content, error = await self._execute(call, malformed, options)
        if error is None and self.max_tool_output is not None and len(content) > self.max_tool_output:
            cut = len(content) - self.max_tool_output
            content = f"{content[: self.max_tool_output]}\n[... truncated {cut} characters]"
        results[call.id]["content"] = content
        if emit is not None:
            await emit(ToolCallFinished(call=call, content=content, error=error))

    async def _execute(
        self, call: ToolCall, malformed: str | None, options: _Options
    ) -> tuple[str, str | None]:
        if malformed is not None:
            message = f"Error: your tool call could not be read: {malformed}. Write it again."
            return message, malformed
        found = self.tools.get(call.name)
        if found is None:
            known = ", ".join(self.tools) or "none"
            error = f"unknown tool {call.name!r}"
            return f"Error: there is no tool named {call.name!r}. Available tools: {known}.", error
        if self.approve is not None:
            verdict = self.approve(call)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if verdict is not True:
                reason = verdict if isinstance(verdict, str) and verdict else "denied"
                return f"Error: the user did not allow this tool call ({reason}).", f"not approved: {reason}"
        logger.info("running tool %s (call %s)", call.name, call.id)
        logger.debug("tool %s arguments: %s", call.name, call.arguments)
        try:
            with anyio.fail_after(options.tool_timeout):
                value = await found.acall(call.arguments)
        except ToolError as e:
            return f"Error: {e}", str(e)
        except TimeoutError:
            error = f"timed out after {options.tool_timeout} s"
            return f"Error: the tool {call.name} {error}.", error
        except Exception as e:
            logger.info("tool %s raised %s", call.name, type(e).__name__, exc_info=True)
            error = f"{type(e).__name__}: {e}"
            return f"Error: the tool {call.name} raised {error}", error
        try:
            return render_result(value), None
        except (TypeError, ValueError) as e:
            error = f"the tool returned a value that cannot be sent as JSON ({e})"
            return f"Error: {error}.", error


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
