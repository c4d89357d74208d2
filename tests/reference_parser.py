"""A deliberately simple batch parser of raw model output, written from docs/formats.md.

Used only by the tests, as an independent reference for `agentkit.formats`: it shares no code
with it (no incremental scanner, no channels, no regexes compiled per state) and is written for
obviousness, not speed. Its rules, in order of the text:

- Outside a call, the tags looked for are ``</think>``, the call open tags, and ``<think>`` only
  while the message has not started (nothing but whitespace so far, no call, no ``</think>``).
- ``<think>`` at the start opens reasoning (dropped if reasoning is already open); later it is text.
- ``</think>`` ends reasoning; in content it is dropped.
- In content every call open tag opens a call; in reasoning only the format's reasoning-call tags
  (the others are thought text). A call runs to its own close tag, or to the end of the text.
- Undecided start (``in_reasoning=None``): text is held; ``</think>`` makes it reasoning;
  ``<think>`` (anywhere: text if past the start), a call tag that is not a reasoning-call tag, or
  the end of the text make it content.
  Reasoning-call blocks are calls either way and decide nothing.
- Content and reasoning are the concatenated text, stripped as a whole; reasoning is None unless
  reasoning was entered and holds some text.
- A call body: stripped; the plugin marker (if the format has one) removed, another ``<|x|>``
  marker is an error; then one JSON object (duplicate keys: the first wins) with a non-empty
  string "name"; the arguments are the value of the first key (in text order) that is one of the
  format's argument keys: an object (kept exactly as written), a string holding a JSON object
  (kept stripped; empty means {}), absent ({}), anything else an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class Spec:
    calls: dict[str, str]  # open tag -> close tag
    reasoning_calls: tuple[str, ...]
    arg_keys: tuple[str, ...]
    plugin_marker: str | None = None


INTERN_S1 = Spec(
    {"<|action_start|>": "<|action_end|>"}, ("<|action_start|>",), ("parameters", "arguments"), "<|plugin|>"
)
QWEN3 = Spec({"<tool_call>": "</tool_call>"}, (), ("arguments", "parameters"))
AUTO = Spec({"<|action_start|>": "<|action_end|>", "<tool_call>": "</tool_call>"}, ("<|action_start|>",),
            ("arguments", "parameters"), "<|plugin|>")  # fmt: skip
SPECS = {"intern-s1": INTERN_S1, "qwen3": QWEN3, "auto": AUTO}


@dataclass
class Result:
    content: str = ""
    reasoning: str | None = None
    calls: list[tuple[int, str, str]] = field(default_factory=list)  # (block index, name, arguments)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (block index, raw text)


def _first(text: str, pos: int, tags: list[str]) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for tag in tags:
        i = text.find(tag, pos)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, tag)
    return best


def parse(spec: Spec, text: str, in_reasoning: bool | None = False) -> Result:
    out = Result()
    content: list[str] = []
    reasoning: list[str] = []
    held: list[str] = []
    state = {False: "content", True: "reasoning", None: "undecided"}[in_reasoning]
    thought = in_reasoning is True
    started = False  # past the start of the message
    pos = block = 0
    while True:
        tags = [THINK_CLOSE]
        tags += list(spec.reasoning_calls) if state == "reasoning" else list(spec.calls)
        if not started or state == "undecided":
            tags.append(THINK_OPEN)
        found = _first(text, pos, tags)
        end = found[0] if found else len(text)
        piece = text[pos:end]
        {"content": content, "reasoning": reasoning, "undecided": held}[state].append(piece)
        if piece.strip():
            started = True
        if found is None:
            break
        tag = found[1]
        pos = end + len(tag)
        if state == "undecided" and (tag == THINK_OPEN or (tag in spec.calls and tag not in spec.reasoning_calls)):
            content += held
            held, state = [], "content"
        if tag == THINK_OPEN:
            if started:  # text after the start (the piece before it may have just ended the start)
                {"content": content, "reasoning": reasoning}[state].append(tag)
            else:
                state, thought = "reasoning", True
        elif tag == THINK_CLOSE:
            started = True
            if state == "undecided":
                reasoning += held
                held, thought = [], True
            state = "content"
        else:
            started = True
            close = spec.calls[tag]
            i = text.find(close, pos)
            body = text[pos:] if i < 0 else text[pos:i]
            raw = tag + body + ("" if i < 0 else close)
            result = read_call(spec, body)
            if result is None:
                out.errors.append((block, raw))
            else:
                out.calls.append((block, *result))
            block += 1
            pos = len(text) if i < 0 else i + len(close)
    content += held
    out.content = "".join(content).strip()
    reasoning_text = "".join(reasoning).strip()
    out.reasoning = reasoning_text if thought and reasoning_text else None
    return out


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        obj.setdefault(key, value)
    return obj


def _top_level_members(text: str) -> list[tuple[str, Any, str]]:
    """(key, value, raw text of the value) of a JSON object, in order, duplicates included."""
    decoder = json.JSONDecoder(object_pairs_hook=_first_wins)
    ws = re.compile(r"[ \t\n\r]*")
    i = ws.match(text, 0).end()  # type: ignore[union-attr]
    assert text[i] == "{"
    i = ws.match(text, i + 1).end()  # type: ignore[union-attr]
    members = []
    if text[i] == "}":
        return members
    while True:
        key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        i = ws.match(text, i).end()  # type: ignore[union-attr]
        assert text[i] == ":"
        i = ws.match(text, i + 1).end()  # type: ignore[union-attr]
        value, j = decoder.raw_decode(text, i)
        members.append((key, value, text[i:j]))
        i = ws.match(text, j).end()  # type: ignore[union-attr]
        if text[i] == "}":
            return members
        assert text[i] == ","
        i = ws.match(text, i + 1).end()  # type: ignore[union-attr]


def read_call(spec: Spec, body: str) -> tuple[str, str] | None:
    """(name, arguments) of a call body, or None when it is malformed."""
    text = body.strip()
    if spec.plugin_marker and text.startswith(spec.plugin_marker):
        text = text[len(spec.plugin_marker) :].strip()
    elif re.match(r"<\|[a-z_]+\|>", text):
        return None
    try:
        obj = json.loads(text, object_pairs_hook=_first_wins)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return None
    members = _top_level_members(text)
    arg = next(((v, raw) for k, v, raw in members if k in spec.arg_keys), None)
    if arg is None:
        return name, "{}"
    value, raw = arg
    if isinstance(value, dict):
        return name, raw
    if isinstance(value, str):
        if not value.strip():
            return name, "{}"
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        return (name, value.strip()) if isinstance(decoded, dict) else None
    return None
