"""The incremental scan of one tool-call block's JSON body.

The body arrives in pieces; each piece is scanned once, for its structural JSON characters only
(a compiled regex, so C speed), and kept in a list: nothing is rebuilt per piece, so a call of
n characters costs O(n) however it is chunked. The scan finds, at the top level of the object,
the first ``"name"`` (announced as soon as its string closes) and the first argument key's
object (streamed as it arrives): the same members `Format.read_call` picks, since duplicate
keys resolve to the first there too.
"""

from __future__ import annotations

import json
import re

_STRUCTURAL = re.compile(r'["\\{}\[\]:,]')
_NAME, _ARGS = 1, 2  # what the next top-level value is


class CallScan:
    """A call block being read: its body's pieces and what the scan found in them."""

    __slots__ = (
        "_arg_keys",
        "args_end",
        "args_parts",
        "args_seen",
        "args_sent",
        "args_sent_chars",
        "args_start",
        "close_tag",
        "depth",
        "expect_key",
        "id",
        "in_str",
        "index",
        "key",
        "length",
        "literal",
        "literal_is_key",
        "name",
        "name_seen",
        "open_tag",
        "opened",
        "parts",
        "role",
        "skip_at",
    )  # fmt: skip

    def __init__(self, index: int, call_id: str, open_tag: str, close_tag: str, arg_keys: tuple[str, ...]) -> None:
        self.index, self.id, self.open_tag, self.close_tag = index, call_id, open_tag, close_tag
        self._arg_keys = arg_keys
        self.parts: list[str] = []
        self.length = 0
        self.depth = 0
        self.in_str = False
        self.skip_at = -1  # absolute offset of the character after a backslash in a string
        self.literal: list[str] | None = None  # a top-level key or name string being collected
        self.literal_is_key = False
        self.expect_key = False
        self.key: str | None = None
        self.role = 0
        self.name_seen = self.args_seen = False
        self.name: str | None = None
        self.args_start: int | None = None
        self.args_end: int | None = None
        self.args_parts: list[str] = []  # the arguments object's text, as the pieces brought it
        self.args_sent = 0  # how many of args_parts have been emitted
        self.args_sent_chars = 0
        self.opened = False

    def body(self) -> str:
        return "".join(self.parts)

    def add(self, piece: str) -> None:
        """Scan the next piece of the body."""
        base = self.length
        self.parts.append(piece)
        self.length = base + len(piece)
        lit_from = 0
        for m in _STRUCTURAL.finditer(piece):
            i = m.start()
            c = m.group()
            if self.in_str:
                if base + i == self.skip_at:
                    continue
                if c == "\\":
                    self.skip_at = base + i + 1
                elif c == '"':
                    self.in_str = False
                    if self.literal is not None:
                        self.literal.append(piece[lit_from : i + 1])
                        self._literal_done("".join(self.literal))
                        self.literal = None
                continue
            if self.depth == 1:
                role, self.role = self.role, 0
                if c == ":":
                    self.expect_key = False
                    if self.key == "name" and not self.name_seen:
                        self.name_seen, self.role = True, _NAME
                    elif self.key in self._arg_keys and not self.args_seen:
                        self.args_seen, self.role = True, _ARGS
                    continue
                if c == ",":
                    self.expect_key, self.key = True, None
                    continue
                if c == '"':
                    self.in_str = True
                    if self.expect_key or role == _NAME:
                        self.literal, self.literal_is_key, lit_from = [], self.expect_key, i
                    continue
                if c == "{" and role == _ARGS:
                    self.args_start = base + i
            elif c == '"':
                self.in_str = True
                continue
            if c in "{[":
                if self.depth == 0 and c == "{":
                    self.expect_key = True
                self.depth += 1
            elif c in "}]":
                self.depth -= 1
                if self.depth == 1 and self.args_start is not None and self.args_end is None:
                    self.args_end = base + i + 1
        if self.literal is not None:
            self.literal.append(piece[lit_from:])
        start = self.args_start
        if start is not None:
            end = self.args_end
            lo = start - base if start > base else 0
            hi = end - base if end is not None and end < self.length else len(piece)
            if hi > lo:
                self.args_parts.append(piece[lo:hi])

    def _literal_done(self, literal: str) -> None:
        if "\\" in literal:
            try:
                value = json.loads(literal)
            except ValueError:
                return
        else:  # no escapes: the text between the quotes (control characters fail read_call later)
            value = literal[1:-1]
        if self.literal_is_key:
            self.key = value
        elif self.name is None:
            self.name = value

    def unsent_args(self) -> str:
        """The arguments text scanned since the last call (all of it, the first time)."""
        parts = self.args_parts
        text = parts[self.args_sent] if self.args_sent == len(parts) - 1 else "".join(parts[self.args_sent :])
        self.args_sent = len(parts)
        self.args_sent_chars += len(text)
        return text
