"""The incremental parser: raw model text in, reasoning / content / tool-call events out.

One pass over the text, O(n) however it is chunked: each delta is searched once for the tags of
the current state (compiled regexes, so C speed); text is kept as lists of pieces, never rebuilt
per delta; at most one partial tag (``<|act`` at a chunk end) is held back until the next delta
decides it. Call bodies are scanned incrementally by the format's reader (`BlockScan`: JSON
bodies' `CallScan`, Qwen3-Coder's `XmlCallScan`), so a call's name is announced as soon as it is
written and its arguments stream as they arrive. A block ends at its close tag or at the
format's alternative one (Qwen3-Coder's ``</tool_call>`` for a missing ``</function>``); after a
block closed by its own tag, the format's wrapper close (``</tool_call>`` after ``</function>``)
is dropped with the blank text before it. Batch `parse` is this parser fed the whole text at
once, so the two agree by construction.

Where reasoning starts: ``in_reasoning=True`` (the prompt opened ``<think>``), ``False``
(content; a ``<think>`` at the very start opens reasoning), or ``None`` (undecided: the text is
held back until ``</think>`` shows it was reasoning, or ``<think>``, a tool call that is only a
call outside reasoning, or the end of the text shows it was content).
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

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

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

_CONTENT, _REASONING, _CALL, _UNDECIDED = 0, 1, 2, 3


class BlockScan(Protocol):
    """The incremental reader of one call block (`CallScan` for JSON bodies, `XmlCallScan`)."""

    opened: bool
    """Set once `ToolCallOpened` has been emitted."""

    @property
    def index(self) -> int: ...
    @property
    def id(self) -> str: ...
    @property
    def open_tag(self) -> str: ...
    @property
    def close_tag(self) -> str: ...
    @property
    def name(self) -> str | None:
        """The tool's name once it is known (and valid): `ToolCallOpened` is emitted then."""

    @property
    def args_parts(self) -> list[str]: ...
    @property
    def args_sent(self) -> int: ...
    @property
    def args_sent_chars(self) -> int: ...
    def add(self, piece: str) -> None: ...
    def body(self) -> str: ...
    def unsent_args(self) -> str: ...


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

    __slots__ = ("kind", "parts", "pending", "started")

    def __init__(self, kind: type[TextDelta] | type[ReasoningDelta]) -> None:
        self.kind = kind
        self.started = False  # some non-whitespace text has been emitted
        self.pending: list[str] = []  # trailing whitespace: only text if more text follows
        self.parts: list[str] = []

    def emit(self, text: str, out: list[ParseEvent]) -> None:
        if not text:
            return
        if self.started and not self.pending and not text[-1].isspace():
            self.parts.append(text)  # the common case: mid-text, no whitespace to hold back
            out.append(self.kind(text))
            return
        if not self.started:
            text = text.lstrip()
            if not text:
                return
            self.started = True
        body = text.rstrip()
        if not body:
            self.pending.append(text)
            return
        tail = text[len(body) :]
        if self.pending:
            body = "".join(self.pending) + body
            self.pending.clear()
        if tail:
            self.pending.append(tail)
        self.parts.append(body)
        out.append(self.kind(body))

    def text(self) -> str:
        return "".join(self.parts)


_TagTable = dict[tuple[int, bool], tuple[re.Pattern[str], tuple[str, ...]]]


@functools.cache
def _tag_table(
    call_open: tuple[str, ...], reasoning_call_open: tuple[str, ...], suffixes: tuple[str, ...]
) -> _TagTable:
    """(state, at the start of the message) -> (regex of the tags to look for, the tags)."""
    table = {}
    for state, calls in ((_CONTENT, call_open), (_REASONING, reasoning_call_open), (_UNDECIDED, call_open)):
        for at_start in (False, True):
            tags = (THINK_CLOSE, *calls, *(suffixes if state == _CONTENT else ()))
            if at_start or state == _UNDECIDED:
                tags += (THINK_OPEN,)
            table[state, at_start] = (re.compile("|".join(map(re.escape, tags))), tags)
    return table


class FormatSpec(Protocol):
    """What the parser needs of a `Format` (a protocol, so that this module imports nothing above it)."""

    @property
    def call_open(self) -> tuple[str, ...]: ...
    @property
    def call_close(self) -> tuple[str, ...]: ...
    @property
    def call_alt_close(self) -> tuple[str, ...]: ...
    @property
    def call_suffix(self) -> tuple[str, ...]: ...
    @property
    def reasoning_call_open(self) -> tuple[str, ...]: ...

    def tool_index(self, tools: Sequence[Any] | None) -> Any: ...
    def new_scan(self, index: int, call_id: str, open_tag: str, close_tag: str, tools: Any) -> BlockScan: ...
    def read_scan(self, call: BlockScan, end_tag: str | None) -> tuple[str, str] | str: ...


class StreamParser:
    """Feed raw model text in any chunks; get events; `close()` at the end.

    After `close()`, `output` equals the format's `parse` of the whole text, however the text
    was chunked. A call block inside reasoning that the format does not move out is thought
    text here: whether it runs is decided on the whole response (`Format.reasoning_calls`).
    """

    def __init__(
        self,
        fmt: FormatSpec,
        *,
        in_reasoning: bool | None = False,
        id_factory: Callable[[], str] = new_call_id,
        tools: Sequence[Any] | None = None,
    ) -> None:
        self._fmt = fmt
        self._tools = fmt.tool_index(tools)
        self._ids = id_factory
        self._state = _UNDECIDED if in_reasoning is None else _REASONING if in_reasoning else _CONTENT
        self._thought = in_reasoning is True
        self._return = self._state
        self._buf = ""
        self._held: list[str] = []  # undecided text
        self._past_start = False
        self._closed = False
        self._content = _Channel(TextDelta)
        self._reasoning = _Channel(ReasoningDelta)
        self._call: BlockScan | None = None
        # Whitespace after a call that closed with its own tag, held until the format's
        # `call_suffix` (dropped with it) or other text (then it is content) follows.
        self._gap: list[str] | None = None
        self._calls: list[ToolCall] = []
        self._errors: list[MalformedCall] = []
        self._count = 0
        self._close_of = dict(zip(fmt.call_open, fmt.call_close, strict=True))
        alts = fmt.call_alt_close or ("",) * len(fmt.call_open)
        self._alt_of = {o: (a,) if a else () for o, a in zip(fmt.call_open, alts, strict=True)}
        self._closes = {o: _close_pattern(self._close_of[o], self._alt_of[o]) for o in fmt.call_open}
        self._suffix_of = dict(zip(fmt.call_open, fmt.call_suffix, strict=True)) if fmt.call_suffix else {}
        self._suffixes = frozenset(t for t in fmt.call_suffix if t)
        self._gap_tag = ""  # the suffix that the held gap waits for
        self._tags = _tag_table(fmt.call_open, fmt.reasoning_call_open, tuple(sorted(self._suffixes)))

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
            state = self._state
            if state == _CALL:
                assert self._call is not None
                self._call.add(delta)
                self._advance_call(out)
            elif state == _CONTENT:
                self._emit_content(delta, out)
            elif state == _REASONING:
                self._reasoning.emit(delta, out)
            elif delta:
                self._held.append(delta)
            return out
        self._buf += delta
        self._run(out, final=False)
        return out

    def close(self) -> list[ParseEvent]:
        """Flush: the text has ended (held-back text is decided, an open call is finished)."""
        out: list[ParseEvent] = []
        if not self._closed:
            self._run(out, final=True)
            if self._state == _UNDECIDED:
                self._decide(self._content, out)
            self._flush_gap(out)
            self._closed = True
        return out

    # --- the state machine ------------------------------------------------------------------

    def _run(self, out: list[ParseEvent], *, final: bool) -> None:
        buf, pos = self._buf, 0
        while True:
            state = self._state
            if state == _CALL:
                call = self._call
                assert call is not None
                close = self._closes[call.open_tag]
                if close is None:
                    idx, end_tag = buf.find(call.close_tag, pos), call.close_tag
                else:
                    found = close.search(buf, pos)
                    idx, end_tag = (found.start(), found.group()) if found else (-1, "")
                if idx >= 0:
                    call.add(buf[pos:idx])
                    self._finish_call(out, end_tag)
                    pos = idx + len(end_tag)
                    continue
                keep = 0 if final else _partial_suffix(buf, pos, (call.close_tag, *self._alt_of[call.open_tag]))
                call.add(buf[pos : len(buf) - keep])
                if final:
                    self._finish_call(out, None)
                else:
                    self._advance_call(out)
                self._buf = buf[len(buf) - keep :]
                return
            pattern, tags = self._tags[state, not (self._past_start or self._started())]
            m = pattern.search(buf, pos)
            end = len(buf) if m is None else m.start()
            keep = 0 if final or m is not None else _partial_suffix(buf, pos, tags)
            piece = buf[pos : end - keep]
            if state == _CONTENT:
                self._emit_content(piece, out)
            elif state == _REASONING:
                self._reasoning.emit(piece, out)
            elif piece:
                self._held.append(piece)
            if m is None:
                self._buf = buf[len(buf) - keep :]
                return
            pos = m.end()
            self._tag(m.group(), out)

    def _emit_content(self, text: str, out: list[ParseEvent]) -> None:
        gap = self._gap
        if gap is not None:
            if not text or text.isspace():
                gap.append(text)
                return
            self._flush_gap(out)
        self._content.emit(text, out)

    def _flush_gap(self, out: list[ParseEvent]) -> None:
        if self._gap is not None:
            text, self._gap = "".join(self._gap), None
            self._content.emit(text, out)

    def _tag(self, tag: str, out: list[ParseEvent]) -> None:
        if tag in self._suffixes:  # only searched for in content
            if self._gap is not None and tag == self._gap_tag:  # right after its call: dropped
                self._gap = None
            else:
                self._flush_gap(out)
                self._content.emit(tag, out)
            return
        self._flush_gap(out)
        state = self._state
        if state == _UNDECIDED:
            if tag == THINK_CLOSE:
                self._thought = self._past_start = True
                self._decide(self._reasoning, out)
                return
            if tag == THINK_OPEN or tag not in self._fmt.reasoning_call_open:
                self._decide(self._content, out)
                state = _CONTENT
        if tag == THINK_OPEN:
            if self._started():  # only the message's start can open reasoning; later it is text
                (self._content if state == _CONTENT else self._reasoning).emit(tag, out)
            else:
                self._state, self._thought = _REASONING, True
        elif tag == THINK_CLOSE:
            self._state, self._past_start = _CONTENT, True  # a stray </think> in content is dropped
        else:
            self._return, self._state, self._past_start = self._state, _CALL, True
            self._call = self._fmt.new_scan(self._count, self._ids(), tag, self._close_of[tag], self._tools)
            self._count += 1

    def _started(self) -> bool:
        """Whether the message is past its start: some text, a call, or a ``</think>``."""
        # Undecided text needs no check: a tag that ends the undecided start emits it first.
        if not self._past_start:
            self._past_start = self._content.started or self._reasoning.started
        return self._past_start

    def _decide(self, channel: _Channel, out: list[ParseEvent]) -> None:
        """The undecided start turned out to be `channel`'s text; what follows is content."""
        self._state = _CONTENT
        channel.emit("".join(self._held), out)
        self._held.clear()

    def _advance_call(self, out: list[ParseEvent]) -> None:
        call = self._call
        assert call is not None
        if not call.opened:
            if not call.name:
                return
            call.opened = True
            out.append(ToolCallOpened(index=call.index, id=call.id, name=call.name))
        if call.args_sent != len(call.args_parts):
            out.append(ToolCallArgsDelta(index=call.index, text=call.unsent_args()))

    def _finish_call(self, out: list[ParseEvent], end_tag: str | None) -> None:
        call = self._call
        assert call is not None
        self._advance_call(out)
        self._state, self._call = self._return, None
        result = self._fmt.read_scan(call, end_tag)
        if end_tag == call.close_tag and self._suffix_of.get(call.open_tag):
            self._gap, self._gap_tag = [], self._suffix_of[call.open_tag]
        if isinstance(result, str):
            reason = result if end_tag else f"{result} (the tool call block was never closed)"
            error = MalformedCall(raw=call.open_tag + call.body() + (end_tag or ""), reason=reason)
            self._errors.append(error)
            out.append(ToolCallMalformed(index=call.index, error=error))
            return
        name, arguments = result
        if not call.opened:
            out.append(ToolCallOpened(index=call.index, id=call.id, name=name))
        # What was streamed is the arguments' start by construction: the scan and read_call
        # pick the same member, and read_call keeps that member's text as written.
        rest = arguments[call.args_sent_chars if call.opened else 0 :]
        if rest:
            out.append(ToolCallArgsDelta(index=call.index, text=rest))
        tool_call = ToolCall(id=call.id, name=name, arguments=arguments)
        self._calls.append(tool_call)
        out.append(ToolCallReady(index=call.index, call=tool_call))


def _close_pattern(close: str, alternatives: tuple[str, ...]) -> re.Pattern[str] | None:
    """A regex of a call's close tags, or None when `close` alone ends it (a plain `find`)."""
    if not alternatives:
        return None
    return re.compile("|".join(map(re.escape, (close, *alternatives))))


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
