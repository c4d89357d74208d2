"""Text an MCP server or authorization server sent, made safe to put in a log line or an error message."""

from __future__ import annotations

import re

LIMIT = 1000
"""Characters of untrusted text kept; the rest is counted, not shown."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def sanitise(text: object, limit: int = LIMIT) -> str:
    """`text` with control characters escaped (a newline cannot forge a log line, an escape sequence cannot
    repaint a terminal) and cut at `limit` characters."""
    said = str(text)
    cut = len(said) - limit
    said = said[:limit] if cut > 0 else said
    said = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), said)
    return said + (f"… ({cut} more characters)" if cut > 0 else "")
