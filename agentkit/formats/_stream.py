"""The incremental parser: raw model text in, reasoning / content / tool-call events out.

One pass over the text, O(n): each delta is searched once for the tags of the current state
(compiled regexes, so C speed), and at most one partial tag (``<|act`` at a chunk end) is held
back until the next delta decides it. Tool-call bodies are scanned incrementally for their
structural JSON characters only, so a call's name is announced as soon as it is written and its
arguments stream as they arrive. Batch `parse` is this parser fed the whole text at once.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._events import (
    MalformedCall,
    ParseEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallArgsDelta,
    ToolCallMalformed,
    ToolCallOpened,
    ToolCallReady,
)

if TYPE_CHECKING:
    from . import Format

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

_CONTENT, _REASONING, _CALL = 0, 1, 2
_STRUCTURAL = re.compile(r'["\\{}\[\]:,]')


def new_call_id() -> str:
    """A fresh tool-call id in OpenAI's style."""
    return "call_" + uuid.uuid4().hex[:24]


@dataclass(kw_only=True)
class ParsedOutput:
    """One model message split into its parts."""

    content: str = ""
    """Visible text, with text between and around tool calls kept in order."""
    reasoning: str | None = None
    """The thinking text, or None when the model did not think."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Every well-formed tool call, in order."""
    errors: list[MalformedCall] = field(default_factory=list)
    """Tool-call blocks that could not be read, with their raw text."""


class _Channel:
    """Text for one channel, stripped at both ends as a whole, emitted as early as possible."""

    def __init__(self, kind: type[TextDelta] | type[ReasoningDelta]) -> None:
        self.kind = kind
        self.started = False
        self.pending_ws = ""
        self.parts: list[str] = []

    def emit(self, text: str, out: list[ParseEvent]) -> None:
        if not text:
            return
        if self.started and not self.pending_ws and not text[-1].isspace():
            self.parts.append(text)  # the common case: mid-text, no whitespace to hold back
            out.append(self.kind(text))
            return
        if not self.started:
            text = text.lstrip()
            if not text:
                return
            self.started = True
        text = self.pending_ws + text
        body = text.rstrip()
        # Trailing whitespace waits: it is only content if more text follows.
        self.pending_ws = text[len(body) :]
        if body:
            self.parts.append(body)
            out.append(self.kind(body))

    def text(self) -> str:
        return "".join(self.parts)


class _Call:
    """A tool call block being read, with an incremental scan of its JSON body."""

    def __init__(self, index: int, call_id: str, open_tag: str) -> None:
        self.index, self.id, self.open_tag = index, call_id, open_tag
        self.body = ""
        self.scanned = 0
        self.depth = 0
        self.in_str = False
        self.skip_at = -1
        self.str_start = 0
        self.expect_key = False
        self.key: str | None = None
        self.name: str | None = None
        self.args_start: int | None = None
        self.args_end: int | None = None
        self.args_sent = 0  # how much of the arguments has been emitted, as an offset into body
        self.opened = False

    def scan(self, arg_keys: tuple[str, ...]) -> None:
        body = self.body
        for m in _STRUCTURAL.finditer(body, self.scanned):
            i, c = m.start(), m.group()
            if self.in_str:
                if i == self.skip_at:
                    continue  # the character after a backslash
                if c == "\\":
                    self.skip_at = i + 1
                elif c == '"':
                    self.in_str = False
                    if self.depth == 1:
                        self._string_done(body[self.str_start : i + 1])
            elif c == '"':
                self.in_str = True
                self.str_start = i
            elif c in "{[":
                if self.depth == 0 and c == "{":
                    self.expect_key = True
                elif self.depth == 1 and c == "{" and self.key in arg_keys and self.args_start is None:
                    self.args_start = self.args_sent = i
                self.depth += 1
            elif c in "}]":
                self.depth -= 1
                if self.depth == 1 and self.args_start is not None and self.args_end is None:
                    self.args_end = i + 1
            elif self.depth == 1:
                if c == ":":
                    self.expect_key = False
                elif c == ",":
                    self.expect_key, self.key = True, None
        self.scanned = len(body)

    def _string_done(self, literal: str) -> None:
        try:
            value = json.loads(literal)
        except ValueError:
            return
        if self.expect_key:
            self.key = value
        elif self.key == "name" and self.name is None:
            self.name = value

    def pending_args(self) -> str:
        if self.args_start is None:
            return ""
        end = self.args_end if self.args_end is not None else self.scanned
        text = self.body[self.args_sent : end]
        self.args_sent = end
        return text


class StreamParser:
    """Feed raw model text in any chunks; get events; `close()` at the end.

    After `close()`, `output` equals the format's `parse` of the whole text, however the text
    was chunked.
    """

    def __init__(
        self,
        fmt: Format,
        *,
        in_reasoning: bool = False,
        id_factory: Callable[[], str] = new_call_id,
    ) -> None:
        self._fmt = fmt
        self._ids = id_factory
        self._state = _REASONING if in_reasoning else _CONTENT
        self._thought = in_reasoning
        self._return = _CONTENT
        self._buf = ""
        self._closed = False
        self._content = _Channel(TextDelta)
        self._reasoning = _Channel(ReasoningDelta)
        self._call: _Call | None = None
        self._calls: list[ToolCall] = []
        self._errors: list[MalformedCall] = []
        self._count = 0
        self._close_of = dict(zip(fmt.call_open, fmt.call_close, strict=True))
        content_tags = [THINK_OPEN, THINK_CLOSE, *fmt.call_open]
        reasoning_tags = [THINK_OPEN, THINK_CLOSE, *fmt.reasoning_call_open]
        self._tags = {
            _CONTENT: (re.compile("|".join(map(re.escape, content_tags))), tuple(content_tags)),
            _REASONING: (re.compile("|".join(map(re.escape, reasoning_tags))), tuple(reasoning_tags)),
        }

    @property
    def output(self) -> ParsedOutput:
        """What the events emitted so far add up to."""
        return ParsedOutput(
            content=self._content.text(),
            reasoning=self._reasoning.text() if self._thought and self._reasoning.started else None,
            tool_calls=list(self._calls),
            errors=list(self._errors),
        )

    def feed(self, delta: str) -> list[ParseEvent]:
        """Parse the next piece of text; returns the events it completes."""
        if self._closed:
            raise RuntimeError("feed() after close()")
        out: list[ParseEvent] = []
        if not self._buf and "<" not in delta:
            # Most deltas hold no tag and nothing is held back: no tag can start or end in them.
            if self._state == _CALL:
                assert self._call is not None
                self._call.body += delta
                self._advance_call(out)
            else:
                (self._content if self._state == _CONTENT else self._reasoning).emit(delta, out)
            return out
        self._buf += delta
        self._run(out, final=False)
        return out

    def close(self) -> list[ParseEvent]:
        """Flush: the text has ended (held-back text is decided, an open call is finished)."""
        out: list[ParseEvent] = []
        if not self._closed:
            self._run(out, final=True)
            self._closed = True
        return out

    # --- the state machine ------------------------------------------------------------------

    def _run(self, out: list[ParseEvent], *, final: bool) -> None:
        buf, pos = self._buf, 0
        while True:
            if self._state == _CALL:
                assert self._call is not None
                end_tag = self._close_of[self._call.open_tag]
                idx = buf.find(end_tag, pos)
                if idx >= 0:
                    self._call.body += buf[pos:idx]
                    self._finish_call(out, end_tag)
                    pos = idx + len(end_tag)
                    continue
                keep = 0 if final else _partial_suffix(buf, pos, (end_tag,))
                self._call.body += buf[pos : len(buf) - keep]
                if final:
                    self._finish_call(out, None)
                else:
                    self._advance_call(out)
                self._buf = buf[len(buf) - keep :]
                return
            pattern, tags = self._tags[self._state]
            channel = self._content if self._state == _CONTENT else self._reasoning
            m = pattern.search(buf, pos)
            if m is None:
                keep = 0 if final else _partial_suffix(buf, pos, tags)
                channel.emit(buf[pos : len(buf) - keep], out)
                self._buf = buf[len(buf) - keep :]
                return
            channel.emit(buf[pos : m.start()], out)
            pos = m.end()
            tag = m.group()
            if tag == THINK_OPEN:
                self._state, self._thought = _REASONING, True
            elif tag == THINK_CLOSE:
                self._state = _CONTENT  # a stray </think> in content is dropped
            else:
                self._return = self._state
                self._state = _CALL
                self._call = _Call(self._count, self._ids(), tag)
                self._count += 1

    def _advance_call(self, out: list[ParseEvent]) -> None:
        call = self._call
        assert call is not None
        call.scan(self._fmt.arg_keys)
        if not call.opened and call.name is not None:
            call.opened = True
            out.append(ToolCallOpened(index=call.index, id=call.id, name=call.name))
        if call.opened:
            text = call.pending_args()
            if text:
                out.append(ToolCallArgsDelta(index=call.index, text=text))

    def _finish_call(self, out: list[ParseEvent], end_tag: str | None) -> None:
        call = self._call
        assert call is not None
        self._advance_call(out)
        self._state, self._call = self._return, None
        raw = call.open_tag + call.body + (end_tag or "")
        result = self._fmt.read_call(call.body, call.args_start, call.args_end)
        if isinstance(result, str):
            reason = result if end_tag else f"{result} (the tool call block was never closed)"
            error = MalformedCall(raw=raw, reason=reason)
            self._errors.append(error)
            out.append(ToolCallMalformed(index=call.index, error=error))
            return
        name, arguments = result
        if not call.opened:
            out.append(ToolCallOpened(index=call.index, id=call.id, name=name))
        sent = call.body[call.args_start : call.args_sent] if call.args_start is not None else ""
        if call.opened and sent and not arguments.startswith(sent):
            sent = ""  # cannot happen for well-formed JSON; never emit a wrong total
        if arguments[len(sent) :]:
            out.append(ToolCallArgsDelta(index=call.index, text=arguments[len(sent) :]))
        tool_call = ToolCall(id=call.id, name=name, arguments=arguments)
        self._calls.append(tool_call)
        out.append(ToolCallReady(index=call.index, call=tool_call))


@functools.cache
def _longest(tags: tuple[str, ...]) -> int:
    return max(len(t) for t in tags) - 1


def _partial_suffix(buf: str, pos: int, tags: tuple[str, ...]) -> int:
    """Length of the longest tail of buf[pos:] that is a proper prefix of one of `tags`."""
    start = max(pos, len(buf) - _longest(tags))
    i = buf.find("<", start)
    while i >= 0:
        tail = buf[i:]
        if any(t.startswith(tail) for t in tags):
            return len(buf) - i
        i = buf.find("<", i + 1)
    return 0
