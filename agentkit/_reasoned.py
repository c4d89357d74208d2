"""Which calls written inside the reasoning run: the one rule for `RemoteModel` and `LocalModel`.

A thinking model may write its tool call before it closes ``</think>``; a server's reasoning
parser then keeps it in the reasoning and its tool parser finds none (vLLM #39056, #42021, PR
#40115). The rule is decided once, on the whole response (server-parsed calls and errors
included), never by a parser that sees only the text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._events import ToolCall
from ._model import Completion, Message, ToolChoice
from .formats import Format

__all__ = ["reasoned_calls"]


def reasoned_calls(
    fmt: Format, done: Completion, *, tools: Sequence[Any] | None, tool_choice: ToolChoice | None,
    messages: Sequence[Message],
) -> list[ToolCall]:  # fmt: skip
    """The calls to run from `done`'s reasoning (`Format.reasoning_calls`: the complete blocks
    that end it, each once), when all of these hold: tools were offered and the caller's
    `tool_choice` is not ``"none"``; the response has no call, no malformed call and no answer
    (blank content); it was not cut by the length limit. Under a named `tool_choice` only that
    tool's calls count. A block that a tool message of `messages` carries (untrusted data the
    model quoted) is not a call the model made."""
    if not tools or tool_choice == "none" or not done.reasoning:
        return []
    if done.tool_calls or done.errors or done.content.strip() or done.finish_reason == "length":
        return []
    calls = fmt.reasoning_calls(done.reasoning, tools=tools)
    if tool_choice not in (None, "auto", "required"):
        calls = [c for c in calls if c.name == tool_choice]
    if not calls:
        return []
    quoted = {_key(c) for text in _tool_texts(messages) for c in _all_blocks(fmt, text, tools)}
    return [c for c in calls if _key(c) not in quoted]


def _tool_texts(messages: Sequence[Message]) -> list[str]:
    out: list[str] = []
    for m in messages:
        if m.get("role") != "tool":
            continue
        content = m.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return out


def _all_blocks(fmt: Format, text: str, tools: Sequence[Any]) -> list[ToolCall]:
    """Every complete call block in `text`, wherever it stands."""
    if not any(tag in text for tag in fmt.call_open):
        return []
    return fmt.parse(text, tools=tools).tool_calls


def _key(call: ToolCall) -> tuple[str, str]:
    try:
        return call.name, json.dumps(json.loads(call.arguments), sort_keys=True)
    except ValueError:
        return call.name, call.arguments
