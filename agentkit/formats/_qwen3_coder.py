"""Qwen3-Coder's XML tool calls (also Qwen3.5 and Intern-S2-Preview).

```
<tool_call>
<function=get_current_temperature>
<parameter=location>
San Francisco
</parameter>
</function>
</tool_call>
```

A call is read by `XmlCallScan`, incrementally like the JSON families' `CallScan`: each piece
of the body is searched once for the tags of the scan's state, and at most one partial tag is
carried to the next piece, so a call of n characters costs O(n) however it is chunked. The
call is complete at ``</function>``; ``</tool_call>`` (missing ``</function>``) and the end of
the text close it too. Parameter values are converted with the tool's schema by the rules of
vLLM's ``qwen3_coder`` tool parser (`convert_value`).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._base import Format

_FUNC, _FUNC_END, _PARAM, _PARAM_END = "<function=", "</function>", "<parameter=", "</parameter>"


def _tags(*tags: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    return re.compile("|".join(map(re.escape, tags))), tags


# What ends a parameter's value, and what a function body looks for between parameters; with
# `_FUNC_END` where the scan itself must find it (a block closed by ``</tool_call>``, in `AUTO`).
_VALUE_END, _VALUE_END_F = _tags(_PARAM_END, _PARAM), _tags(_PARAM_END, _PARAM, _FUNC_END)
_NEXT, _NEXT_F = _tags(_PARAM), _tags(_PARAM, _FUNC_END)
# vLLM rejects names with template syntax, whitespace or quotes: a model that writes an
# unrendered template (`<function={{ name }}>`) or prose is not calling a tool.
_BAD_NAME = re.compile(r"""[{}<>"' \t\n\r]""")
_HEAD, _NAME, _BODY, _PNAME, _VALUE, _DONE = range(6)
_STRING_TYPES = ("string", "str", "text", "varchar", "char", "enum")
_INT_PREFIXES = ("int", "uint", "long", "short", "unsigned")
Properties = Mapping[str, Any]


def tool_properties(tools: Sequence[Any] | None) -> dict[str, Properties]:
    """Tool name -> its parameters' ``properties`` (the first tool of a name wins, as in vLLM).

    `tools`: `Tool` objects (their ``.schema``), OpenAI ``tools`` entries
    (``{"type": "function", "function": {...}}``) or bare function entries (``{"name", "parameters"}``).
    """
    out: dict[str, Properties] = {}
    for tool in tools or ():
        entry = getattr(tool, "schema", tool)
        if not isinstance(entry, Mapping):
            continue
        function = entry.get("function", entry)
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            continue
        params = function.get("parameters")
        props = params.get("properties") if isinstance(params, Mapping) else None
        out.setdefault(function["name"], props if isinstance(props, Mapping) else {})
    return out


def _param_type(schema: Any) -> tuple[str, bool]:
    """(the type name vLLM converts by, whether null is allowed) of one property's schema."""
    if isinstance(schema, Mapping) and "type" in schema:
        kind = str(schema["type"]).strip().lower()  # a list of types becomes its repr, as in vLLM
        return kind, kind == "null"
    if isinstance(schema, Mapping) and "anyOf" in schema:
        kind, nullable, picked = "string", False, False
        for option in schema["anyOf"] if isinstance(schema["anyOf"], list) else ():
            if isinstance(option, Mapping) and "type" in option:
                option_type = str(option["type"]).strip().lower()
                if option_type == "null":
                    nullable = True
                elif not picked:
                    kind, picked = option_type, True
        return kind, nullable
    return "string", False


def _literal(text: str) -> Any:
    """A Python literal read as data (never evaluated), or `text` itself when it is not one."""
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text


def convert_value(value: str, name: str, props: Properties) -> Any:
    """A parameter's text converted by its schema type, as vLLM's ``qwen3_coder`` parser does.

    Unknown parameters and string types stay text; ``null``/``None`` is null for other types
    (and for nullable strings); integers by ``int()``, numbers by ``float()`` (integral ones as
    integers); booleans are ``true`` only for ``true`` (any case); objects and arrays as JSON,
    else as a Python literal; other types as a Python literal, else text. A value that does not
    convert stays text.
    """
    if name not in props:
        return value
    kind, nullable = _param_type(props[name])
    if nullable and value.lower() in ("null", "none"):
        return None
    if kind in _STRING_TYPES:
        return value
    if value.lower() in ("null", "none"):
        return None
    if kind.startswith(_INT_PREFIXES):
        try:
            return int(value)
        except ValueError:
            return value
    if kind.startswith(("num", "float")):
        try:
            number = float(value)
            return number if number - int(number) != 0 else int(number)
        except (ValueError, OverflowError):  # nan, inf: vLLM fails on inf; we keep the text
            return value
    if kind in ("boolean", "bool", "binary"):
        return value.lower() == "true"
    container = kind in ("object", "array", "arr") or kind.startswith(("dict", "list"))
    if container:
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            pass
        else:
            # A JSON string holding a Python repr ("{'k': 'v'}"), from templates that wrote str(dict).
            return _literal(parsed) if isinstance(parsed, str) else parsed
    converted = _literal(value)
    if container and isinstance(converted, str) and converted is not value:
        converted = _literal(converted)
    return converted


def _json_value(value: Any, text: str) -> str:
    """`value` as JSON; the raw `text` as a JSON string when it has no JSON form (a set, NaN)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(text, ensure_ascii=False)


def _partial_tail(text: str, tags: tuple[str, ...]) -> int:
    """Length of the longest tail of `text` that is a proper prefix of one of `tags`."""
    start = max(0, len(text) - max(map(len, tags)) + 1)
    i = text.find("<", start)
    while i >= 0:
        tail = text[i:]
        if any(t.startswith(tail) and t != tail for t in tags):
            return len(text) - i
        i = text.find("<", i + 1)
    return 0


class XmlCallScan:
    """One ``<tool_call>`` (or bare ``<function=``) block being read.

    The interface the stream parser uses is `CallScan`'s: `add`, `body`, `name` (set once it is
    complete and valid), `opened`, `args_parts` / `unsent_args` (the arguments JSON as it is
    built: ``{`` at the name, one ``"key": value`` member per parameter as its value ends).
    """

    __slots__ = (
        "args_parts", "args_sent", "args_sent_chars", "carry", "close_tag", "id", "index", "keys",
        "name", "name_parts", "next", "open_tag", "opened", "param", "param_parts", "parts", "props",
        "raw_name", "state", "tools", "value_end", "value_parts",
    )  # fmt: skip

    def __init__(self, index: int, call_id: str, open_tag: str, close_tag: str, tools: dict[str, Properties]) -> None:
        self.index, self.id, self.open_tag, self.close_tag = index, call_id, open_tag, close_tag
        self.tools = tools
        self.parts: list[str] = []
        self.state = _NAME if open_tag == _FUNC else _HEAD
        own_end = close_tag != _FUNC_END
        self.value_end = _VALUE_END_F if own_end else _VALUE_END
        self.next = _NEXT_F if own_end else _NEXT
        self.carry = ""  # a tail that may be the start of a tag, decided by the next piece
        self.name_parts: list[str] = []
        self.raw_name: str | None = None
        self.name: str | None = None
        self.props: Properties = {}
        self.param_parts: list[str] = []
        self.param = ""
        self.value_parts: list[str] = []
        self.keys: set[str] = set()
        self.args_parts: list[str] = []
        self.args_sent = 0
        self.args_sent_chars = 0
        self.opened = False

    def body(self) -> str:
        return "".join(self.parts)

    def add(self, piece: str) -> None:
        """Scan the next piece of the body."""
        self.parts.append(piece)
        text = self.carry + piece if self.carry else piece
        self.carry = ""
        pos, n = 0, len(text)
        while pos < n:
            state = self.state
            if state == _HEAD:
                i = text.find(_FUNC, pos)
                if i < 0:  # text outside the tags is ignored, as vLLM and SGLang do
                    keep = _partial_tail(text[pos:], (_FUNC,))
                    self.carry = text[n - keep :] if keep else ""
                    return
                pos, self.state = i + len(_FUNC), _NAME
            elif state in (_NAME, _PNAME):
                i = text.find(">", pos)
                into = self.name_parts if state == _NAME else self.param_parts
                if i < 0:
                    into.append(text[pos:])
                    return
                into.append(text[pos:i])
                pos = i + 1
                if state == _NAME:
                    self._named()
                else:
                    self.param, self.state = "".join(self.param_parts), _VALUE
                    self.param_parts.clear()
            elif state == _DONE:  # after </function>: ignored, as vLLM does
                return
            else:
                pattern, tags = self.value_end if state == _VALUE else self.next
                m = pattern.search(text, pos)
                if m is None:
                    keep = _partial_tail(text[pos:], tags)
                    if state == _VALUE:
                        self.value_parts.append(text[pos : n - keep])
                    self.carry = text[n - keep :] if keep else ""
                    return
                if state == _VALUE:
                    self.value_parts.append(text[pos : m.start()])
                    self._value_done()
                pos = m.end()
                tag = m.group()
                self.state = _PNAME if tag == _PARAM else _BODY if tag == _PARAM_END else _DONE

    def _named(self) -> None:
        self.raw_name = name = "".join(self.name_parts)
        self.state = _BODY
        if name and not _BAD_NAME.search(name):
            self.name = name
            self.props = self.tools.get(name, {})
            self.args_parts.append("{")

    def _value_done(self) -> None:
        value = "".join(self.value_parts)
        self.value_parts.clear()
        value = value[1:] if value.startswith("\n") else value  # the template's own newlines
        value = value[:-1] if value.endswith("\n") else value
        key = self.param
        if self.name is None or key in self.keys:  # a repeated parameter: the first wins
            return
        self.keys.add(key)
        member = json.dumps(key, ensure_ascii=False) + ": " + _json_value(convert_value(value, key, self.props), value)
        self.args_parts.append(", " + member if len(self.keys) > 1 else member)

    def finish(self, end_tag: str | None) -> tuple[str, str] | str:
        """(name, arguments JSON), or why the block is malformed; `end_tag` None: the text ended."""
        state = self.state
        if state == _HEAD:
            return "no <function=NAME> in the tool call block"
        if state == _NAME:
            return "the function name is not closed with '>'"
        if self.name is None:
            return f"invalid function name {self.raw_name!r}"
        if state == _VALUE:
            if end_tag is None:
                return f"the text ended inside the value of parameter {self.param!r}"
            self.value_parts.append(self.carry)  # an unfinished tag there is text of the value
            self.carry = ""
            self._value_done()  # a missing </parameter>: the close tag ends the value, as in vLLM
        elif state == _PNAME and end_tag is None:
            return "the text ended inside a <parameter=NAME> tag"
        self.state = _BODY
        return self.name, "".join(self.args_parts) + "}"

    def unsent_args(self) -> str:
        """The arguments text built since the last call (all of it, the first time)."""
        text = "".join(self.args_parts[self.args_sent :])
        self.args_sent = len(self.args_parts)
        self.args_sent_chars += len(text)
        return text


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True, kw_only=True)
class Qwen3CoderFormat(Format):
    """Qwen3-Coder's markup: XML calls in ``<tool_call>`` blocks (thought text inside
    ``<think>``), results in ``<tool_response>`` blocks. Parameter values are converted with
    the tools' schemas given to `parse` / `stream_parser`."""

    def new_scan(self, index: int, call_id: str, open_tag: str, close_tag: str, tools: Any) -> XmlCallScan:
        return XmlCallScan(index, call_id, open_tag, close_tag, tools)

    def tool_index(self, tools: Sequence[Any] | None) -> Any:
        return tool_properties(tools)

    def read_scan(self, call: Any, end_tag: str | None) -> tuple[str, str] | str:
        assert isinstance(call, XmlCallScan)
        return call.finish(end_tag)

    def forced_call_start(self, name: str | None) -> str:
        # Up to the name (not its ">"), or for any tool up to where the name goes.
        return "<tool_call>\n<function=" + (name or "")

    def _render_call(self, name: str, args: dict[str, Any]) -> str:
        params = "".join(f"<parameter={k}>\n{_value_text(v)}\n</parameter>\n" for k, v in args.items())
        return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"

    def render_tool_result(self, content: str, *, name: str | None = None) -> str:
        return f"<tool_response>\n{content}\n</tool_response>"


QWEN3_CODER = Qwen3CoderFormat(
    name="qwen3-coder",
    call_open=("<tool_call>", _FUNC),
    call_close=("</function>", "</function>"),
    call_alt_close=("</tool_call>", "</tool_call>"),
    call_suffix=("</tool_call>", "</tool_call>"),
    arg_keys=(),
    reasoning_call_open=(),
)
