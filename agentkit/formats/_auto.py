"""`AUTO`: every family at once, recognised from the tags themselves (raw text of an unknown model).

Intern-S1's action blocks, Qwen3's JSON ``<tool_call>`` blocks and Qwen3-Coder's XML ones: a
``<tool_call>`` body is read as XML when its first non-blank character opens a tag
(``<function=``), else as JSON; a bare ``<function=`` opens an XML call. Calls render as
Intern-S1's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._base import Format
from ._intern_s1 import InternS1Format
from ._qwen3_coder import XmlCallScan, tool_properties
from ._scan import CallScan
from ._stream import BlockScan


class _SniffScan:
    """A ``<tool_call>`` block whose body kind (JSON or XML) its first non-blank character decides."""

    __slots__ = ("_args", "_held", "_inner", "close_tag", "id", "index", "open_tag")

    def __init__(self, index: int, call_id: str, open_tag: str, close_tag: str, args: tuple[Any, Any]) -> None:
        self.index, self.id, self.open_tag, self.close_tag = index, call_id, open_tag, close_tag
        self._args = args  # (the JSON arguments keys, the tools' properties)
        self._held: list[str] = []  # blank text before the decision
        self._inner: CallScan | XmlCallScan | None = None

    def add(self, piece: str) -> None:
        inner = self._inner
        if inner is None:
            if not piece or piece.isspace():
                self._held.append(piece)
                return
            inner = self._decide(xml=piece.lstrip().startswith("<"))
        inner.add(piece)

    def _decide(self, *, xml: bool) -> CallScan | XmlCallScan:
        arg_keys, tools = self._args
        inner: CallScan | XmlCallScan
        if xml:
            inner = XmlCallScan(self.index, self.id, self.open_tag, self.close_tag, tools)
        else:
            inner = CallScan(self.index, self.id, self.open_tag, self.close_tag, arg_keys)
        for held in self._held:
            inner.add(held)
        self._held.clear()
        self._inner = inner
        return inner

    def decided(self) -> CallScan | XmlCallScan:
        """The inner scan (a JSON one for a blank body, which is then an empty tool call)."""
        return self._inner if self._inner is not None else self._decide(xml=False)

    def body(self) -> str:
        return self.decided().body()

    def unsent_args(self) -> str:
        return self.decided().unsent_args()

    @property
    def name(self) -> str | None:
        return None if self._inner is None else self._inner.name

    @property
    def opened(self) -> bool:
        return self._inner is not None and self._inner.opened

    @opened.setter
    def opened(self, value: bool) -> None:
        self.decided().opened = value

    @property
    def args_parts(self) -> list[str]:
        return [] if self._inner is None else self._inner.args_parts

    @property
    def args_sent(self) -> int:
        return 0 if self._inner is None else self._inner.args_sent

    @property
    def args_sent_chars(self) -> int:
        return 0 if self._inner is None else self._inner.args_sent_chars


@dataclass(frozen=True, kw_only=True)
class AutoFormat(InternS1Format):
    """Every family's calls, recognised from their tags; renders as Intern-S1."""

    def tool_index(self, tools: Sequence[Any] | None) -> Any:
        return tool_properties(tools)

    def new_scan(self, index: int, call_id: str, open_tag: str, close_tag: str, tools: Any) -> BlockScan:
        if open_tag == "<function=":
            return XmlCallScan(index, call_id, open_tag, close_tag, tools)
        if open_tag == "<tool_call>":
            return _SniffScan(index, call_id, open_tag, close_tag, (self.arg_keys, tools))
        return CallScan(index, call_id, open_tag, close_tag, self.arg_keys)

    def read_scan(self, call: Any, end_tag: str | None) -> tuple[str, str] | str:
        if isinstance(call, _SniffScan):
            call = call.decided()
        if isinstance(call, XmlCallScan):
            return call.finish(end_tag)
        return Format.read_scan(self, call, end_tag)


AUTO = AutoFormat(
    name="auto",
    call_open=("<|action_start|>", "<tool_call>", "<function="),
    call_close=("<|action_end|>", "</tool_call>", "</function>"),
    call_alt_close=("", "", "</tool_call>"),
    call_suffix=("", "", "</tool_call>"),
    arg_keys=("arguments", "parameters"),
    reasoning_call_open=("<|action_start|>",),
    plugin_marker="<|plugin|>",
)
"""Every family, recognised from the tags themselves: for raw text of an unknown model
(renders calls as Intern-S1 does)."""
