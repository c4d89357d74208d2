"""Helpers for testing code built on agentkit: a scripted model and a transcript validator.

`ScriptedModel` is a test double: it replays raw model text you wrote (in the Intern-S1 or
Qwen3 format) through the real output parsers, and records what the agent sent it.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import anyio

from ._chunks import call_events
from ._model import Completion, CompletionDone, Message, ModelEvent, ToolChoice, ToolSpec, Usage
from ._reasoned import reasoned_calls
from .formats import Format, get_format

__all__ = ["ModelCall", "ScriptedModel", "check_transcript"]

Response = str | Completion | BaseException
Responder = Callable[[list[Message]], Response]


@dataclass(kw_only=True)
class ModelCall:
    """What the scripted model was asked."""

    messages: list[Message]
    """A copy of the messages sent."""
    tools: list[str]
    """Names of the tools offered."""
    thinking: bool | None
    """The thinking switch."""
    tool_choice: ToolChoice | None
    """The tool choice."""
    options: dict[str, Any]
    """Any other options."""


class ScriptedModel:
    """A `Model` that answers from a script. Test double, not a model.

    `script` is a list of responses used in order, or a function of the messages that returns
    one. A response is raw model text (parsed with `format`, as a local model's output
    would be), a ready `Completion`, or an exception to raise. `chunk` and `delay` shape
    the stream: text is streamed `chunk` characters at a time with `delay` seconds before each.
    `options` are the keyword options it takes (by default the `Sampling` fields); like a real
    backend, it raises TypeError for any other.
    """

    def __init__(
        self,
        script: Sequence[Response] | Responder,
        *,
        format: str | Format = "qwen3",
        in_reasoning: bool = False,
        chunk: int = 4,
        delay: float = 0.0,
        options: Iterable[str] = ("temperature", "top_p", "top_k", "min_p", "max_tokens"),
    ) -> None:
        self.options: frozenset[str] = frozenset(options)
        """The keyword options `complete` and `stream` take."""
        self._script = script if callable(script) else list(script)
        self._next = 0
        self.format = get_format(format) if isinstance(format, str) else format
        self.in_reasoning = in_reasoning
        self.chunk = chunk
        self.delay = delay
        self.calls: list[ModelCall] = []

    def _respond(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None,
        thinking: bool | None,
        tool_choice: ToolChoice | None,
        options: dict[str, Any],
    ) -> Response:
        unknown = set(options) - self.options
        if unknown:
            raise TypeError(f"ScriptedModel does not take {', '.join(sorted(unknown))}")
        names = [t.name if hasattr(t, "name") else t["function"]["name"] for t in tools or ()]
        self.calls.append(
            ModelCall(
                messages=copy.deepcopy(list(messages)),
                tools=names,
                thinking=thinking,
                tool_choice=tool_choice,
                options=dict(options),
            )
        )
        if callable(self._script):
            return self._script(list(messages))
        if self._next >= len(self._script):
            raise AssertionError(f"the script has only {len(self._script)} responses")
        response = self._script[self._next]
        self._next += 1
        return response

    def _completion(
        self, text: str, tools: Sequence[ToolSpec] | None, tool_choice: ToolChoice | None, messages: Sequence[Message]
    ) -> Completion:
        out = self.format.parse(text, in_reasoning=self.in_reasoning, tools=tools)
        done = Completion.from_output(out, usage=Usage(prompt_tokens=1, completion_tokens=len(text)))
        return self._with_reasoned(done, tools, tool_choice, messages)

    def _with_reasoned(
        self, done: Completion, tools: Sequence[ToolSpec] | None, tool_choice: ToolChoice | None,
        messages: Sequence[Message],
    ) -> Completion:  # fmt: skip
        """`done` with the calls from its reasoning, as `LocalModel` decides them."""
        reasoned = reasoned_calls(self.format, done, tools=tools, tool_choice=tool_choice, messages=messages)
        return replace(done, tool_calls=reasoned) if reasoned else done

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] | None = None,
        thinking: bool | None = None,
        tool_choice: ToolChoice | None = None,
        **options: Any,
    ) -> Completion:
        response = self._respond(messages, tools, thinking, tool_choice, options)
        if self.delay:
            await anyio.sleep(self.delay)
        if isinstance(response, BaseException):
            raise response
        if isinstance(response, Completion):
            return response
        return self._completion(response, tools, tool_choice, messages)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] | None = None,
        thinking: bool | None = None,
        tool_choice: ToolChoice | None = None,
        **options: Any,
    ) -> AsyncIterator[ModelEvent]:
        response = self._respond(messages, tools, thinking, tool_choice, options)
        if isinstance(response, BaseException):
            raise response
        if isinstance(response, Completion):
            yield CompletionDone(completion=response)
            return
        parser = self.format.stream_parser(in_reasoning=self.in_reasoning, tools=tools)
        for i in range(0, len(response), self.chunk):
            if self.delay:
                await anyio.sleep(self.delay)
            for event in parser.feed(response[i : i + self.chunk]):
                yield event
        for event in parser.close():
            yield event
        usage = Usage(prompt_tokens=1, completion_tokens=len(response))
        done = Completion.from_output(parser.output, usage=usage)
        final = self._with_reasoned(done, tools, tool_choice, messages)
        for rescued in call_events(final.tool_calls if final is not done else [], 0):
            yield rescued
        yield CompletionDone(completion=final)


def check_transcript(messages: Sequence[Message], *, pending: bool = False) -> None:
    """Check that a transcript is valid for an OpenAI-compatible server.

    Every tool call of an assistant message is answered by exactly one tool message, right
    after it, in the order of the calls, with matching id and name; tool-call ids are unique;
    no tool message answers nothing. With `pending`, the transcript of a run that stopped for
    approval: its last assistant message makes calls, of which at least one is not answered yet
    (the others' tool messages follow it, in the order of the calls).
    Raises AssertionError saying what is wrong (raised explicitly, so the check holds under
    ``python -O`` too).
    """
    if pending:
        end = len(messages)
        while end > 0 and messages[end - 1].get("role") == "tool":
            end -= 1
        last = messages[end - 1] if end else {}
        calls = (last.get("tool_calls") or []) if last.get("role") == "assistant" else []
        _require(bool(calls), "a pending transcript ends with an assistant message that makes tool calls")
        answered = [m.get("tool_call_id") for m in messages[end:]]
        ids = [c.get("id") for c in calls]
        _require(len(answered) < len(ids) and all(a in ids for a in answered) and len(set(answered)) == len(answered),
                 "the tool messages after a pending message answer some of its calls, each once, not all")  # fmt: skip
        _require(answered == [i for i in ids if i in answered], "a pending message's answers are in call order")
        check_transcript(messages[: end - 1])
        return
    seen_ids: set[str] = set()
    i = 0
    while i < len(messages):
        msg = messages[i]
        role = msg.get("role")
        _require(role in ("system", "user", "assistant", "tool"), f"message {i}: unknown role {role!r}")
        _require(role != "tool", f"message {i}: a tool message that answers no tool call")
        calls = (msg.get("tool_calls") or []) if role == "assistant" else []
        _require(role == "assistant" or "tool_calls" not in msg, f"message {i}: tool calls in a {role} message")
        for j, call in enumerate(calls):
            _require(call.get("type") == "function", f"message {i}: tool call {j} has no type 'function'")
            cid = call.get("id")
            _require(isinstance(cid, str) and bool(cid), f"message {i}: tool call {j} has no id")
            _require(cid not in seen_ids, f"message {i}: duplicate tool call id {cid!r}")
            seen_ids.add(cid)
            function = call.get("function")
            _require(isinstance(function, dict), f"message {i}: tool call {cid!r} has no function")
            _require(isinstance(function.get("name"), str), f"message {i}: tool call {cid!r} has no name")
            _require(isinstance(function.get("arguments"), str), f"message {i}: arguments not a string")
            k = i + 1 + j
            _require(k < len(messages), f"message {i}: tool call {cid!r} has no tool message")
            answer = messages[k]
            _require(answer.get("role") == "tool", f"message {k}: expected the tool message for {cid!r}")
            _require(
                answer.get("tool_call_id") == cid,
                f"message {k}: answers {answer.get('tool_call_id')!r}, expected {cid!r}",
            )
            _require(answer.get("name") in (None, function["name"]), f"message {k}: wrong name")
            _require(isinstance(answer.get("content"), str), f"message {k}: content is not a string")
        i += 1 + len(calls)


def _require(condition: bool, problem: str) -> None:
    # Not `assert`: python -O would strip the checks.
    if not condition:
        raise AssertionError(problem)
