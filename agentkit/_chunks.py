"""Reading a server's answer: whole messages and streamed chunks into agentkit's events."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ._events import (
    MalformedCall,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallArgsDelta,
    ToolCallMalformed,
    ToolCallOpened,
    ToolCallReady,
)
from ._model import Completion, ModelEvent, Usage
from .exceptions import ModelError
from .formats import StreamParser, new_call_id

__all__ = [
    "Assembler", "call_events", "completion_events", "join_texts", "read_usage",
    "server_calls", "without_echoes",
]  # fmt: skip


_SERVER_INDEX = 1000  # event indices of server-parsed calls start here
_REASONING_INDEX = 2000  # and those of calls read from the reasoning (`reasoned_calls`)


class Assembler:
    """Builds one message from stream chunks: deltas by index, whole calls, raw markup."""

    def __init__(
        self,
        new_parser: Callable[[bool], StreamParser],
        reasoning_calls: Callable[[Completion], list[ToolCall]] | None = None,
    ) -> None:
        self.new_parser = new_parser
        self.reasoning_calls = reasoning_calls
        """The calls to run from a whole response's reasoning (`reasoned_calls`); None: never."""
        self.rescued: list[ToolCall] = []
        self._parser: StreamParser | None = None
        self.reasoning: list[str] = []
        self.calls: dict[int, _StreamedCall] = {}
        self.order: list[int] = []
        self.ids: set[str] = set()
        self.ready: list[ToolCall] = []
        self.errors: list[MalformedCall] = []
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.got_choice = False
        self._echoes = _Echoes()
        self._moved: dict[int, int] = {}  # a server's index -> the call it names now

    @property
    def parser(self) -> StreamParser:
        if self._parser is None:
            self._parser = self.new_parser(bool(self.reasoning))
        return self._parser

    def feed(self, chunk: dict[str, Any]) -> list[ModelEvent]:
        if "error" in chunk:
            raise ModelError(f"the server sent an error in the stream: {json.dumps(chunk['error'])[:500]}",
                             body=json.dumps(chunk["error"]), partial=self.partial())  # fmt: skip
        if chunk.get("usage"):
            self.usage = read_usage(chunk["usage"])
        events: list[ModelEvent] = []
        for choice in chunk.get("choices") or []:
            self.got_choice = True
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                self.reasoning.append(reasoning)
                events.append(ReasoningDelta(reasoning))
            if delta.get("content"):
                events.extend(self.parser.feed(delta["content"]))
            for i, part in enumerate(delta.get("tool_calls") or []):
                events.extend(self._tool_delta(i, part))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return self._echoes.filter(events)

    def _tool_delta(self, position: int, part: dict[str, Any]) -> list[ModelEvent]:
        index = part.get("index")
        function = part.get("function") or {}
        sid = part.get("id")
        if not isinstance(index, int):  # some servers omit it (Ollama before its PR #7888)
            latest = self.calls.get(max(self.calls, default=-1))
            # A new id is a new call; so is a name after the latest call's arguments (whole
            # calls, several in one delta, with neither index nor id).
            new_id = bool(sid) and all(c.server_id != sid for c in self.calls.values())
            if latest is None or new_id or (function.get("name") and latest.parts):
                index = max(self.calls, default=-1) + 1
            else:
                index = max(self.calls)
        else:
            index = self._moved.get(index, index)
            held = self.calls.get(index)
            other_id = held is not None and bool(sid) and bool(held.server_id) and sid != held.server_id
            # A named part with arguments at the index of a finished call: a whole call of its own
            # (two whole calls at index 0, without ids or with one id twice), never dropped.
            again = held is not None and held.done and bool(function.get("name")) and bool(function.get("arguments"))
            if other_id or again:
                # Ollama leaves every call at index 0 where the model's parser does not count them.
                self._moved[part["index"]] = index = max(self.calls) + 1
        arguments = _arguments_text(function.get("arguments"))
        events: list[ModelEvent] = []
        call = self.calls.get(index)
        if call is None:
            for earlier in list(self.calls):  # calls come one after another: the earlier ones are done
                events.extend(self._close(earlier))
            # Event indices of server-parsed calls start at 1000: calls parsed from raw markup in the
            # content number from 0, and a message could carry both kinds.
            call = self.calls[index] = _StreamedCall(part.get("id"), _SERVER_INDEX + len(self.order))
            self.order.append(index)
        if call.done:
            return events
        if function.get("name") and not call.opened:  # a name sent in pieces is whole before the arguments
            call.name += function["name"]
        if arguments:
            call.add(arguments)
            if not call.opened:
                events.extend(self._open(call))
            else:
                events.append(ToolCallArgsDelta(index=call.index, text=arguments))
            if call.complete:
                events.extend(self._close(index))  # a complete JSON object cannot grow: run it now
        return events

    def _open(self, call: _StreamedCall) -> list[ModelEvent]:
        """Announce `call` once its name is whole, with the arguments received so far."""
        if not call.name:
            return []
        sid = call.server_id
        call.id = sid if sid and sid not in self.ids else new_call_id()
        call.opened = True
        self.ids.add(call.id)
        events: list[ModelEvent] = [ToolCallOpened(index=call.index, id=call.id, name=call.name)]
        if call.parts:
            events.append(ToolCallArgsDelta(index=call.index, text=call.arguments()))
        return events

    def _close(self, index: int) -> list[ModelEvent]:
        call = self.calls[index]
        if call.done:
            return []
        call.done = True
        events = [] if call.opened else self._open(call)
        arguments = call.arguments()
        if call.opened and not arguments.strip():  # no arguments at all: an empty object, streamed too
            call.add("{}")
            events.append(ToolCallArgsDelta(index=call.index, text="{}"))
            arguments = call.arguments()
        raw = json.dumps({"name": call.name, "arguments": arguments}, ensure_ascii=False)
        checked = _checked_call(call.id, call.name if call.opened else "", arguments, raw)
        if isinstance(checked, MalformedCall):
            self.errors.append(checked)
            return [*events, ToolCallMalformed(index=call.index, error=checked)]
        self.ready.append(checked)
        return [*events, ToolCallReady(index=call.index, call=checked)]

    def finish(self) -> list[ModelEvent]:
        events: list[ModelEvent] = list(self.parser.close())
        for index in self.order:
            events.extend(self._close(index))
        events = self._echoes.filter(events)
        if self.reasoning_calls is not None:
            self.rescued = self.reasoning_calls(self.completion())
            events.extend(call_events(self.rescued, _REASONING_INDEX))
        return events

    def partial(self) -> Completion:
        """What arrived before a failure. The text parser is flushed as at an end, so text it
        held back (an undecided start, a partial tag) is kept, as content."""
        self.parser.close()
        return self.completion()

    def completion(self) -> Completion:
        out = self.parser.output
        return Completion(
            content=out.content,
            reasoning=join_texts("".join(self.reasoning) or None, out.reasoning),
            tool_calls=[c for c in [*self.ready, *out.tool_calls] if c.id not in self._echoes.dropped] + self.rescued,
            errors=[*self.errors, *out.errors],
            finish_reason=self.finish_reason,
            usage=self.usage,
        )


class _Echoes:
    """Drops a call that one kind (server-parsed, or parsed from markup left in the content)
    repeats of the other: a server whose parser fills `tool_calls` but leaves the markup in the
    content sends each call twice. In a stream the first one is kept: it may already be running."""

    def __init__(self) -> None:
        self.kept: dict[bool, list[ToolCall]] = {True: [], False: []}  # by "server-parsed"
        self.dropped: set[str] = set()

    def filter(self, events: list[ModelEvent]) -> list[ModelEvent]:
        out: list[ModelEvent] = []
        for event in events:
            if isinstance(event, ToolCallReady):
                server = event.index >= _SERVER_INDEX
                other = self.kept[not server]
                # Compared only when both kinds came (parsing long arguments again costs).
                echoed = next((c for c in other if _call_key(c) == _call_key(event.call)), None) if other else None
                if echoed is not None:
                    other.remove(echoed)  # one echo per call: two equal calls of one kind both run
                    self.dropped.add(event.call.id)
                    continue
                self.kept[server].append(event.call)
            out.append(event)
        return out


def call_events(calls: list[ToolCall], first_index: int) -> list[ModelEvent]:
    """The events of `calls` known whole: each opened, its arguments in one piece, ready."""
    events: list[ModelEvent] = []
    for index, call in enumerate(calls, first_index):
        events.append(ToolCallOpened(index=index, id=call.id, name=call.name))
        events.append(ToolCallArgsDelta(index=index, text=call.arguments))
        events.append(ToolCallReady(index=index, call=call))
    return events


def completion_events(completion: Completion) -> list[ModelEvent]:
    """The events a whole `completion` streams as: its reasoning, its text, its calls."""
    events: list[ModelEvent] = [ReasoningDelta(completion.reasoning)] if completion.reasoning else []
    if completion.content:
        events.append(TextDelta(completion.content))
    events += call_events(completion.tool_calls, 0)
    first = len(completion.tool_calls)
    events += [ToolCallMalformed(index=i, error=e) for i, e in enumerate(completion.errors, first)]
    return events


def without_echoes(server: list[ToolCall], parsed: list[ToolCall]) -> list[ToolCall]:
    """`parsed` (calls read from markup in the content) less those repeating a `server` call."""
    unmatched = [_call_key(c) for c in server]
    out: list[ToolCall] = []
    for call in parsed:
        key = _call_key(call)
        if key in unmatched:
            unmatched.remove(key)
        else:
            out.append(call)
    return out


def _call_key(call: ToolCall) -> tuple[str, str]:
    """A call's name and its arguments as normalised JSON (key order and spacing do not count)."""
    try:
        arguments = json.dumps(json.loads(call.arguments), sort_keys=True)
    except ValueError:
        arguments = call.arguments
    return call.name, arguments


_STRUCTURE = re.compile(r'["{}\[\]]')  # what changes the nesting outside strings
_STRING_STOP = re.compile(r'["\\]')  # what ends or escapes inside a string


class _StreamedCall:
    """One server-parsed call being streamed: its argument pieces, and whether they already form
    a whole JSON object, told by a scan of each piece once (linear in the arguments' length)."""

    def __init__(self, server_id: Any, index: int) -> None:
        self.server_id: str | None = server_id if isinstance(server_id, str) else None
        self.index = index
        self.id = ""
        self.name = ""
        self.parts: list[str] = []
        self.opened = self.done = False
        self.complete = False  # the pieces so far are a whole JSON object
        self._depth = 0
        self._state = "start"  # start, value (inside the top object), string, escape, end, other

    def add(self, text: str) -> None:
        self.parts.append(text)
        state, depth, i, closed = self._state, self._depth, 0, False
        while i < len(text) and state not in ("end", "other"):  # a closed value cannot become an object
            if state == "start":  # the first non-space character decides
                if not text[i].isspace():
                    state, depth = ("value", 1) if text[i] == "{" else ("other", 0)
                i += 1
            elif state == "escape":
                state, i = "string", i + 1
            else:
                found = (_STRING_STOP if state == "string" else _STRUCTURE).search(text, i)
                if found is None:
                    break
                mark, i = found.group(), found.end()
                if mark == '"':
                    state = "value" if state == "string" else "string"
                elif mark == "\\":
                    state = "escape"
                elif mark in "{[":
                    depth += 1
                else:
                    depth -= 1
                    if depth == 0:
                        state, closed = "end", True
        self._state, self._depth = state, depth
        # Parsed at most once per call: when its top-level braces close (the scan is lenient).
        self.complete = closed and _is_object(self.arguments())

    def arguments(self) -> str:
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""


def server_calls(raw_calls: list[dict[str, Any]]) -> tuple[list[ToolCall], list[MalformedCall]]:
    """The calls a server parsed itself, checked: the good ones, and the rest as malformed."""
    calls: list[ToolCall] = []
    errors: list[MalformedCall] = []
    for c in raw_calls:
        function = c.get("function") or {}
        arguments = _arguments_text(function.get("arguments"))
        raw = json.dumps(c, ensure_ascii=False)
        checked = _checked_call(c.get("id") or "", function.get("name") or "", arguments, raw)
        if isinstance(checked, MalformedCall):
            errors.append(checked)
        else:
            calls.append(checked)
    return calls, errors


def _arguments_text(arguments: Any) -> str:
    """A call's arguments as JSON text: some servers send an object rather than a string."""
    if arguments is None or isinstance(arguments, str):
        return arguments or ""
    return json.dumps(arguments, ensure_ascii=False)


def _checked_call(call_id: str, name: str, arguments: str, raw: str) -> ToolCall | MalformedCall:
    """A call the server parsed, if it has a name and its arguments are a complete JSON object."""
    if not name:
        return MalformedCall(raw=raw, reason="the tool call has no name")
    if not arguments.strip():
        arguments = "{}"
    if not _is_object(arguments):
        return MalformedCall(raw=raw, reason="the arguments of the tool call are not a complete JSON object")
    return ToolCall(id=call_id, name=name, arguments=arguments)


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def join_texts(a: str | None, b: str | None) -> str | None:
    """Two optional texts, one per line (None when both are empty)."""
    return "\n".join(x for x in (a, b) if x) or None


def read_usage(data: Any) -> Usage:
    """A response's ``usage`` object as `Usage` (zeros when the server sent none)."""
    if not isinstance(data, dict):
        return Usage()
    return Usage(prompt_tokens=int(data.get("prompt_tokens") or 0),
                 completion_tokens=int(data.get("completion_tokens") or 0))  # fmt: skip
