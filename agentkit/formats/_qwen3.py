"""Qwen3 (hermes style): ``<tool_call>\\n{"name", "arguments"}\\n</tool_call>``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._base import Format


@dataclass(frozen=True, kw_only=True)
class Qwen3Format(Format):
    """Qwen3's markup: ``<tool_call>`` blocks (thought text inside ``<think>``), results in
    ``<tool_response>`` blocks."""

    def _render_call(self, name: str, args: dict[str, Any]) -> str:
        body = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
        return f"<tool_call>\n{body}\n</tool_call>"

    def render_tool_result(self, content: str, *, name: str | None = None) -> str:
        return f"<tool_response>\n{content}\n</tool_response>"


QWEN3 = Qwen3Format(
    name="qwen3",
    call_open=("<tool_call>",),
    call_close=("</tool_call>",),
    arg_keys=("arguments", "parameters"),
    reasoning_call_open=(),
)
