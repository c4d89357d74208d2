"""What each server takes and sends that the others do not: the messages' shape on the way out,
and Ollama's stream that may lose its tool calls.

The servers' source was read at the versions docs/servers.md names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._model import Completion, Message

__all__ = ["reasoning_keys", "retry_unstreamed", "template_calls", "wire_message"]

_REASONING = ("reasoning_content", "reasoning")  # the names a transcript may hold reasoning under
# The keys an assistant message's reasoning goes back under. vLLM reads `reasoning` since it
# renamed the field (PR #27752; chat_utils' _parse_chat_message_content, vLLM #38488) and drops
# any key it does not know, so it gets the old name too, for the versions before the rename.
# Ollama reads `reasoning` (openai.go's Message); lmdeploy, SGLang and llama.cpp
# `reasoning_content`, as does what agentkit cannot identify.
_KEYS: dict[str, tuple[str, ...]] = {"vllm": ("reasoning", "reasoning_content"), "ollama": ("reasoning",)}
_DEFAULT_KEYS = ("reasoning_content",)


def reasoning_keys(server: str) -> tuple[str, ...]:
    """The keys `server` gets an assistant message's reasoning under."""
    return _KEYS.get(server, _DEFAULT_KEYS)


def wire_message(server: str, message: Message, *, keep_reasoning: bool) -> Message:
    """`message` as `server` takes it (``"local"``: a chat template, through `LocalModel`, which
    reads ``reasoning_content``). An assistant message's reasoning (under either name) goes
    under the server's keys when `keep_reasoning` (the current turn), else it is left out, as
    Intern-S1's, Qwen3's and Qwen3.5's templates drop it. Ollama answers 400 to an assistant
    message with ``content: null`` (pydantic-ai #3406): it gets ``""``."""
    out = dict(message)
    if out.get("role") != "assistant":
        return out
    found = [out.pop(key) for key in _REASONING if key in out]
    reasoning = next((r for r in found if r), None)
    if keep_reasoning and reasoning:
        for key in reasoning_keys(server):
            out[key] = reasoning
    if server == "ollama" and out.get("content") is None:
        out["content"] = ""
    return out


def retry_unstreamed(server: str, tools: Sequence[Any] | None, tool_choice: Any, streamed: Completion) -> bool:
    """Whether a streamed answer should be asked for again without streaming: Ollama's stream
    may end with no tool call where the same request unstreamed has one (Qwen3 #1747), so a
    stream with tools offered under a `tool_choice` other than ``"none"`` (where no call can be
    missing) that brought neither text nor a call (nor a broken one), and was not cut by the
    length limit, is asked again."""
    return (
        server == "ollama" and bool(tools) and tool_choice != "none"
        and not streamed.content.strip() and not streamed.tool_calls
        and not streamed.errors and streamed.finish_reason != "length"
    )  # fmt: skip


def template_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`calls` with their arguments as objects, as chat templates read them when they render a
    message for the model (a string that is not JSON is left as it is)."""
    return [{**c, "function": {**c["function"], "arguments": _loads(c["function"].get("arguments"))}} for c in calls]


def _loads(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return arguments
    return arguments
