"""Intern-S1 (and InternLM): ``<|action_start|><|plugin|>\\n{"name", "parameters"}<|action_end|>``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._base import Format


@dataclass(frozen=True, kw_only=True)
class InternS1Format(Format):
    """Intern-S1's markup: calls in action blocks (also inside ``<think>``), results in an
    ``environment`` turn."""

    def _render_call(self, name: str, args: dict[str, Any]) -> str:
        body = json.dumps({"name": name, "parameters": args}, ensure_ascii=False)
        return f"<|action_start|><|plugin|>\n{body}<|action_end|>"

    def render_tool_result(self, content: str, *, name: str | None = None) -> str:
        return f"<|im_start|>environment name=<|plugin|>\n{content}<|im_end|>\n"


INTERN_S1 = InternS1Format(
    name="intern-s1",
    call_open=("<|action_start|>",),
    call_close=("<|action_end|>",),
    arg_keys=("parameters", "arguments"),
    reasoning_call_open=("<|action_start|>",),
    plugin_marker="<|plugin|>",
)
