"""`Format`: how one model family writes thinking and tool calls, and how a call block is read."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._events import TextDelta, ToolCall, ToolCallArgsDelta, ToolCallOpened, ToolCallReady
from ._scan import CallScan
from ._stream import THINK_CLOSE, THINK_OPEN, BlockScan, ParsedOutput, StreamParser, new_call_id

_MARKER = re.compile(r"<\|[a-z_]+\|>")


def first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose duplicate keys keep their first value (json's default keeps the last)."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        obj.setdefault(key, value)
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=first_wins)  # built once: json.loads(hook=) builds one per call


@dataclass(frozen=True, kw_only=True)
class Format:
    """How one model family writes thinking and tool calls."""

    name: str
    """Registry name: ``"intern-s1"``, ``"qwen3"``, ``"qwen3-coder"`` or ``"auto"``."""
    call_open: tuple[str, ...]
    """Tags that open a tool call block."""
    call_close: tuple[str, ...]
    """The tag that closes each of them, in the same order."""
    call_alt_close: tuple[str, ...] = ()
    """Per open tag, another tag that also closes its block, or ``""`` (a tolerated missing
    close tag: Qwen3-Coder's ``</tool_call>`` where ``</function>`` is missing). Empty: none."""
    call_suffix: tuple[str, ...] = ()
    """Per open tag, a tag dropped (with the whitespace before it) right after its block closed
    with its own close tag, or ``""``: Qwen3-Coder's ``</tool_call>`` after ``</function>``.
    Anywhere else such a tag is text."""
    arg_keys: tuple[str, ...]
    """Keys under which a call's arguments may appear; the first of them in the text wins."""
    reasoning_call_open: tuple[str, ...]
    """Open tags that start a call even inside ``<think>`` (Intern-S1's, as vLLM moves them out);
    other call blocks inside ``<think>`` are thought text (Qwen3, as vLLM's hermes parser)."""
    plugin_marker: str | None = None
    """A marker that may follow the open tag (Intern-S1's ``<|plugin|>``)."""
    generation_opens_think: bool | None = None
    """Set by `detect_format`: whether the template's generation prompt opens ``<think>``."""

    # --- parsing --------------------------------------------------------------------------------

    def parse(
        self,
        text: str,
        *,
        in_reasoning: bool | None = False,
        id_factory: Callable[[], str] = new_call_id,
        tools: Sequence[Any] | None = None,
    ) -> ParsedOutput:
        """Split a whole message.

        `in_reasoning`: True when the prompt already opened ``<think>``; None when that is not
        known (the text before the first ``</think>`` is reasoning, unless ``<think>`` or a call
        that is not allowed inside reasoning comes first; see `StreamParser`). `tools`: the
        tools the model was given (`Tool` objects or OpenAI schema dicts), for formats whose
        values are converted by the tool's schema (``qwen3-coder``); the others ignore them.
        """
        parser = self.stream_parser(in_reasoning=in_reasoning, id_factory=id_factory, tools=tools)
        parser.feed(text)
        parser.close()
        return parser.output

    def reasoning_calls(
        self, reasoning: str, *, tools: Sequence[Any] | None = None, id_factory: Callable[[], str] = new_call_id
    ) -> list[ToolCall]:
        """The calls of the complete call blocks that END `reasoning`, read as if they stood in
        the content: a thinking model may write its call just before closing ``</think>``, where
        a server's reasoning parser keeps it (vLLM #39056, PR #40115). Only the block(s) with
        nothing but whitespace after them count (a block followed by more thought was a draft or
        a quote); a block repeated identically counts once; a trailing block left open or
        unreadable means none. Whether they run is decided on the whole response (`reasoned_calls`)."""
        if not any(tag in reasoning for tag in self.call_open):
            return []
        ends = tuple(t for t in (*self.call_close, *self.call_alt_close, *self.call_suffix) if t)
        if not reasoning.rstrip().endswith(ends):
            return []  # the last block left open (the text's end would close it in the content)
        # The blocks are read once: not again inside a <think> of the reasoning itself.
        parser = StreamParser(self, in_reasoning=False, id_factory=id_factory, tools=tools)
        events = [*parser.feed(reasoning), *parser.close()]
        trailing: list[ToolCall] = []
        for event in reversed(events):
            if isinstance(event, ToolCallReady):
                trailing.append(event.call)
            elif isinstance(event, TextDelta) and not event.text.strip():
                continue
            elif not isinstance(event, (ToolCallOpened, ToolCallArgsDelta)):
                break  # text, a thought inside <think>, a malformed block: what comes before is not the end
        calls: list[ToolCall] = []
        seen: set[tuple[str, str]] = set()
        for call in reversed(trailing):
            try:
                key = (call.name, json.dumps(json.loads(call.arguments), sort_keys=True))
            except ValueError:
                key = (call.name, call.arguments)
            if key not in seen:
                seen.add(key)
                calls.append(call)
        return calls

    def stream_parser(
        self,
        *,
        in_reasoning: bool | None = False,
        id_factory: Callable[[], str] = new_call_id,
        tools: Sequence[Any] | None = None,
    ) -> StreamParser:
        """An incremental parser; see `StreamParser` (and `parse` for `tools`)."""
        return StreamParser(self, in_reasoning=in_reasoning, id_factory=id_factory, tools=tools)

    # --- the call blocks' reader, used by `StreamParser` --------------------------------------

    def tool_index(self, tools: Sequence[Any] | None) -> Any:
        """What `new_scan` needs of the tools (nothing for the JSON families)."""
        return None

    def new_scan(self, index: int, call_id: str, open_tag: str, close_tag: str, tools: Any) -> BlockScan:
        """The incremental reader of one call block."""
        return CallScan(index, call_id, open_tag, close_tag, self.arg_keys)

    def read_scan(self, call: BlockScan, end_tag: str | None) -> tuple[str, str] | str:
        """(name, arguments JSON) of a finished block, or why it is malformed."""
        assert isinstance(call, CallScan)
        return self.read_call(call.body(), call.args_start, call.args_end)

    def read_call(self, body: str, args_start: int | None, args_end: int | None) -> tuple[str, str] | str:
        """(name, arguments JSON) of a call block's body, or the reason it is malformed.

        Duplicate keys: the first wins. The arguments are the value of the first of `arg_keys`
        in the text. `args_start`/`args_end` locate that value in `body` when the stream scan
        found it an object: the arguments are then kept exactly as the model wrote them.
        """
        text = body.strip()
        if self.plugin_marker and text.startswith(self.plugin_marker):
            text = text[len(self.plugin_marker) :].lstrip()
        elif (m := _MARKER.match(text)) is not None:
            return f"unsupported action type {m.group()}; tool calls use {self.plugin_marker}"
        if not text:
            return "empty tool call"
        try:
            obj = _DECODER.decode(text)
        except json.JSONDecodeError as e:
            return f"the tool call is not valid JSON ({e.msg} at position {e.pos})"
        if not isinstance(obj, dict):
            return "the tool call must be a JSON object with a name and arguments"
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            return 'the tool call has no "name"'
        key = next((k for k in obj if k in self.arg_keys), None)
        if key is None:
            return name, "{}"
        value = obj[key]
        if isinstance(value, str):  # arguments sent as a JSON string, as OpenAI does
            try:
                decoded = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError:
                decoded = None
            if not isinstance(decoded, dict):
                return f'the "{key}" of the tool call must be a JSON object'
            return name, value.strip() or "{}"
        if not isinstance(value, dict):
            return f'the "{key}" of the tool call must be a JSON object'
        if args_start is not None and args_end is not None:
            return name, body[args_start:args_end]
        return name, json.dumps(value, ensure_ascii=False)

    # --- rendering --------------------------------------------------------------------------

    def render_tool_call(self, call: ToolCall | Mapping[str, Any]) -> str:
        """The text the model writes for `call`."""
        if isinstance(call, ToolCall):
            name, arguments = call.name, call.arguments
        else:
            function = call["function"]
            name, arguments = function["name"], function["arguments"]
        args = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
        return self._render_call(name, args)

    def forced_call_start(self, name: str | None) -> str:
        """The start of a call that a backend without grammars writes for the model to continue:
        up to the tool's `name` itself, or (None: any tool) up to where the model names one."""
        marker = "AGENTKIT_TOOL_NAME"  # where the name goes in the family's call markup
        opener = self._render_call(marker, {})
        if name is None:
            return opener[: opener.index("{")]  # the model writes the whole JSON object
        # Up to the name itself: BPE merges the closing quote with what follows (`",`), so
        # cutting any later leaves the model at a token boundary it never saw.
        return opener[: opener.index(marker)] + name

    def _render_call(self, name: str, args: dict[str, Any]) -> str:
        raise NotImplementedError(f"format {self.name!r} does not render tool calls")

    def render_message(
        self, content: str, tool_calls: list[ToolCall] | None = None, reasoning: str | None = None
    ) -> str:
        """An assistant message as the model writes it (without the turn's ChatML wrapper)."""
        parts = [f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n"] if reasoning else []
        parts.append(content)
        for call in tool_calls or ():
            parts.append(("\n" if parts[-1] else "") + self.render_tool_call(call))
        return "".join(parts)

    def render_tool_result(self, content: str, *, name: str | None = None) -> str:
        """A tool result as the template feeds it back (one block)."""
        raise NotImplementedError(f"format {self.name!r} does not render tool results")
