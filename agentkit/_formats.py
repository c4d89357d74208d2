"""The JSON Schema ``format`` values agentkit enforces, each checked with the standard library.

jsonschema checks ``date-time``, ``time``, ``uri`` and others only when optional packages are
installed (and skips them silently otherwise): here every format in `CHECKS` is checked the same
way wherever agentkit runs. Another format is an annotation, as JSON Schema 2020-12 says.
A check takes a string and returns whether it is one of the format's (raising ValueError counts
as no); a value that is not a string is not the format's business. Digits are ASCII only, as the
RFCs say: Python's ``\\d``, `int` and `uuid.UUID` would take any Unicode digit (Arabic-Indic too).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable

__all__ = ["CHECKS"]

# RFC 3339, section 5.6 (the "T" and "Z" in either case; seconds up to 60 for a leap second).
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|[+-]([0-9]{2}):([0-9]{2}))"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_RE_TIME = re.compile(_TIME)
_RE_DATE_TIME = re.compile(f"({_DATE})[Tt]{_TIME}")
_RE_DATE = re.compile(_DATE)
_RE_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
# RFC 3986, appendix A, as one pattern: the characters a URI may hold, percent signs as escapes.
_URI_CHARS = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]#]|%[0-9A-Fa-f]{2})*"
_RE_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:{_URI_CHARS}")
_RE_URI_REFERENCE = re.compile(_URI_CHARS)
_RE_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_RE_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_RE_EMAIL_ASCII = re.compile(r"[!-?A-~]+@[!-?A-~]+")  # RFC 5321: printable ASCII, no space, one @


def _clock(hour: str, minute: str, second: str, off_hour: str | None, off_minute: str | None) -> bool:
    offset_ok = off_hour is None or (int(off_hour) <= 23 and int(off_minute or 0) <= 59)
    return int(hour) <= 23 and int(minute) <= 59 and int(second) <= 60 and offset_ok


def _time(text: str) -> bool:
    m = _RE_TIME.fullmatch(text)
    return m is not None and _clock(m[1], m[2], m[3], m[6], m[7])


def _date_time(text: str) -> bool:
    m = _RE_DATE_TIME.fullmatch(text)
    return m is not None and _date(m[1]) and _clock(m[2], m[3], m[4], m[7], m[8])


def _date(text: str) -> bool:
    return bool(_RE_DATE.fullmatch(text)) and bool(datetime.date.fromisoformat(text))


def _uri(text: str) -> bool:
    return _RE_URI.fullmatch(text) is not None and text.count("#") <= 1


def _uri_reference(text: str) -> bool:
    return _RE_URI_REFERENCE.fullmatch(text) is not None and text.count("#") <= 1


def _hostname(text: str) -> bool:
    # RFC 1123: dot-separated labels of letters, digits and inner hyphens; 253 characters at most.
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    return 0 < len(text) <= 253 and all(_RE_LABEL.fullmatch(label) for label in labels)


def _ipv4(text: str) -> bool:
    return bool(ipaddress.IPv4Address(text))


def _ipv6(text: str) -> bool:
    return bool(ipaddress.IPv6Address(text))


def _uuid(text: str) -> bool:
    # 8-4-4-4-12 ASCII hex digits (uuid.UUID takes any grouping, braces, "urn:uuid:", any digit).
    return _RE_UUID.fullmatch(text) is not None


def _email(text: str) -> bool:
    return _RE_EMAIL_ASCII.fullmatch(text) is not None


def _idn_email(text: str) -> bool:  # RFC 6531: any character of Unicode (its digits too)
    return _RE_EMAIL.fullmatch(text) is not None


CHECKS: dict[str, Callable[[str], bool]] = {
    "date": _date,
    "date-time": _date_time,
    "time": _time,
    "email": _email,
    "idn-email": _idn_email,
    "uri": _uri,
    "uri-reference": _uri_reference,
    "uuid": _uuid,
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "hostname": _hostname,
}
"""The formats checked here, by name (``regex`` is checked in `agentkit._validation`, with RE2)."""
