"""Text from a model, a tool or a server made safe to print on a terminal."""

from __future__ import annotations

import contextlib
import json
import logging
import unicodedata
from typing import Any, TextIO

# What a terminal acts on instead of showing: C0 controls (ESC starts CSI cursor moves, OSC 52
# clipboard writes, screen clears; CR overwrites the line), DEL, the C1 controls (U+009B is a
# CSI of its own), and the bidi overrides and isolates that reorder what is shown (Trojan Source).
# Newline and tab are kept: answers and tool output are laid out with them.
_SHOWN = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)] if c not in (0x09, 0x0A)}
_SHOWN.update({c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]})
# The same characters in JSON text: written as \uXXXX escapes there, so the data stays exact.
_JSON = {c: f"\\u{c:04x}" for c in _SHOWN}


def visible(text: str) -> str:
    """`text` with each control character written out (ESC as ``\\x1b``); newlines and tabs kept."""
    return text.replace("\r\n", "\n").translate(_SHOWN)


def exact(text: str) -> str:
    """`visible`, and every invisible character written out too (format characters such as
    zero-width spaces, joiners and bidi marks, line and paragraph separators): for what a person
    decides on, such as a call's name and arguments, where nothing may hide or reorder a part.
    Model text keeps them (`visible`): an emoji sequence needs its joiners."""
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cf", "Zl", "Zp") else c for c in visible(text)
    )


def dump_json(data: Any, out: TextIO) -> None:
    """`data` as one line of JSON (UTF-8, not ``\\u`` escapes) whose text holds no control character."""
    # JSON escapes C0 itself; outside strings JSON text is ASCII, so only string contents change.
    out.write(json.dumps(data, ensure_ascii=False, default=str).translate(_JSON) + "\n")


class _VisibleRecords(logging.Filter):
    """Rewrites each record's message with `visible`: a tool's or a server's name in a warning
    reaches the terminal as text, whichever handler prints it (Python's last resort on stderr, or
    one the user's module configured)."""

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(Exception):  # a malformed record: the handler reports it as it would have
            record.msg, record.args = visible(record.getMessage()), None
        return True


def visible_logs() -> None:
    """Make agentkit's log lines (the ``agentkit`` logger) safe to print, for the command line's lifetime."""
    logger = logging.getLogger("agentkit")
    if not any(isinstance(f, _VisibleRecords) for f in logger.filters):
        logger.addFilter(_VisibleRecords())
