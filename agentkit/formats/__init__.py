"""Output formats of the model families: split raw text into reasoning, content and tool calls.

``get_format("intern-s1")`` / ``get_format("qwen3")``, or `detect_format` from a chat template.
Each format parses a whole message (`Format.parse`) or a stream (`Format.stream_parser`), and
renders tool calls and results back into its text form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

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
from ._stream import THINK_CLOSE, THINK_OPEN, ParsedOutput, StreamParser, new_call_id

__all__ = [
    "AUTO",
    "INTERN_S1",
    "QWEN3",
    "Format",
    "MalformedCall",
    "ParseEvent",
    "ParsedOutput",
    "ReasoningDelta",
    "StreamParser",
    "TextDelta",
    "ToolCall",
    "ToolCallArgsDelta",
    "ToolCallMalformed",
    "ToolCallOpened",
    "ToolCallReady",
    "detect_format",
    "get_format",
    "new_call_id",
    "opens_think",
]

_MARKER = re.compile(r"<\|[a-z_]+\|>")


@dataclass(frozen=True, kw_only=True)
class Format:
    """How one model family writes thinking and tool calls."""

    name: str
    """Registry name: ``"intern-s1"`` or ``"qwen3"``."""
    call_open: tuple[str, ...]
    """Tags that open a tool call block."""
    call_close: tuple[str, ...]
    """The tag that closes each of them, in the same order."""
    arg_keys: tuple[str, ...]
    """Keys under which a call's arguments may appear, first found wins."""
    reasoning_call_open: tuple[str, ...]
    """Open tags that start a call even inside ``<think>`` (Intern-S1's, as vLLM moves them out);
    other call blocks inside ``<think>`` are thought text (Qwen3, as vLLM's hermes parser)."""
    plugin_marker: str | None = None
    """A marker that may follow the open tag (Intern-S1's ``<|plugin|>``)."""
    generation_opens_think: bool | None = None
    """Set by `detect_format`: whether the template's generation prompt opens ``<think>``."""

    # --- parsing --------------------------------------------------------------------------------

    def parse(
        self, text: str, *, in_reasoning: bool = False, id_factory: Callable[[], str] = new_call_id
    ) -> ParsedOutput:
        """Split a whole message. `in_reasoning`: the prompt already opened ``<think>``."""
        parser = self.stream_parser(in_reasoning=in_reasoning, id_factory=id_factory)
        parser.feed(text)
        parser.close()
        return parser.output

    def stream_parser(
        self, *, in_reasoning: bool = False, id_factory: Callable[[], str] = new_call_id
    ) -> StreamParser:
        """An incremental parser; see `StreamParser`."""
        return StreamParser(self, in_reasoning=in_reasoning, id_factory=id_factory)

    def read_call(
        self, body: str, args_start: int | None, args_end: int | None
    ) -> tuple[str, str] | str:
        """(name, arguments JSON) of a call block's body, or the reason it is malformed.

        `args_start`/`args_end` locate the arguments object in `body` when the scanner found
        it: the arguments are then kept exactly as the model wrote them.
        """
        text = body.strip()
        if self.plugin_marker and text.startswith(self.plugin_marker):
            text = text[len(self.plugin_marker) :].lstrip()
        elif (m := _MARKER.match(text)) is not None:
            return f"unsupported action type {m.group()}; tool calls use {self.plugin_marker}"
        if not text:
            return "empty tool call"
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            return f"the tool call is not valid JSON ({e.msg} at position {e.pos})"
        if not isinstance(obj, dict):
            return "the tool call must be a JSON object with a name and arguments"
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            return 'the tool call has no "name"'
        key = next((k for k in self.arg_keys if k in obj), None)
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
            raw = body[args_start:args_end]
            try:
                if json.loads(raw) == value:
                    return name, raw
            except json.JSONDecodeError:
                pass
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
        if self.name != "qwen3":
            body = json.dumps({"name": name, "parameters": args}, ensure_ascii=False)
            return f"<|action_start|><|plugin|>\n{body}<|action_end|>"
        body = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
        return f"<tool_call>\n{body}\n</tool_call>"

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
        if self.name != "qwen3":
            return f"<|im_start|>environment name=<|plugin|>\n{content}<|im_end|>\n"
        return f"<tool_response>\n{content}\n</tool_response>"


INTERN_S1 = Format(
    name="intern-s1",
    call_open=("<|action_start|>",),
    call_close=("<|action_end|>",),
    arg_keys=("parameters", "arguments"),
    reasoning_call_open=("<|action_start|>",),
    plugin_marker="<|plugin|>",
)
QWEN3 = Format(
    name="qwen3",
    call_open=("<tool_call>",),
    call_close=("</tool_call>",),
    arg_keys=("arguments", "parameters"),
    reasoning_call_open=(),
)
AUTO = Format(
    name="auto",
    call_open=("<|action_start|>", "<tool_call>"),
    call_close=("<|action_end|>", "</tool_call>"),
    arg_keys=("arguments", "parameters"),
    reasoning_call_open=("<|action_start|>",),
    plugin_marker="<|plugin|>",
)
"""Either family, recognised from the tags themselves: for raw text of an unknown model."""
_FORMATS = {f.name: f for f in (INTERN_S1, QWEN3, AUTO)}
_ALIASES = {"interns1": "intern-s1", "intern_s1": "intern-s1", "internlm": "intern-s1",
            "internlm2": "intern-s1", "hermes": "qwen3", "qwen": "qwen3", "qwen2.5": "qwen3"}  # fmt: skip


def get_format(name: str) -> Format:
    """The format registered as `name` (``"intern-s1"``, ``"qwen3"``, or an alias)."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in _FORMATS:
        raise ValueError(f"unknown format {name!r}; known: {', '.join(sorted(_FORMATS))}")
    return _FORMATS[key]


def opens_think(prompt: str) -> bool:
    """Whether a rendered prompt leaves the model inside an open ``<think>`` block."""
    return prompt.rstrip().endswith(THINK_OPEN)


def detect_format(chat_template: str) -> Format | None:
    """The format a chat template's model writes, or None when it is neither family.

    The returned format's `generation_opens_think` says whether the generation prompt (with
    thinking at its default) opens a think block; None when that could not be rendered.
    """
    if "<|action_start|>" in chat_template or "<|plugin|>" in chat_template:
        fmt = INTERN_S1
    elif "<tool_call>" in chat_template:
        fmt = QWEN3
    else:
        return None
    return replace(fmt, generation_opens_think=_render_opens_think(chat_template))


def _render_opens_think(chat_template: str) -> bool | None:
    try:
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:  # jinja2 comes with the local extra; without it we cannot tell
        return None

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda v, indent=None, **_: json.dumps(v, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    try:
        prompt = env.from_string(chat_template).render(
            messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True,
            bos_token="", eos_token="",
        )  # fmt: skip
    except Exception:
        return None
    return opens_think(prompt)
