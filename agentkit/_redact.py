"""Secrets kept out of what agentkit says about a connection (a model server, an MCP server):
its reprs, errors and logs."""

from __future__ import annotations

import re
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence

_SECRET = re.compile(r"key|token|secret|passw|auth|bearer|cookie|credential", re.IGNORECASE)
_HIDDEN = "***"


def redacted_args(args: Sequence[str]) -> list[str]:
    """Arguments for messages and logs: one that looks like a secret, or follows a flag that
    names one (``--api-key VALUE``), is shown as ``***``."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        flag, eq, _ = arg.partition("=")
        if hide_next or (eq and _SECRET.search(flag)) or (not arg.startswith("-") and _SECRET.search(arg)):
            out.append(f"{flag}={_HIDDEN}" if eq and not hide_next else _HIDDEN)
        else:
            out.append(arg)
        hide_next = arg.startswith("-") and not eq and bool(_SECRET.search(arg))
    return out


def public_url(url: str) -> str:
    """`url` without credentials, query and fragment (tokens live there), for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


class Redactor:
    """Replaces a connection's secrets in a text with ``***``: the URL's userinfo, query and
    fragment (raw and decoded, whole and value by value), every header value (and the
    credentials after an ``Authorization`` scheme), and the arguments and environment values
    that look like secrets."""

    def __init__(
        self, secrets: Iterable[str], *, url: str | None = None, more: Callable[[], Iterable[str]] | None = None
    ) -> None:
        # Longest first, so that a secret is never left half shown by a shorter one inside it.
        # Shorter than 3 characters is no secret, and would mangle every message.
        self._secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
        self._url = url
        self._more = more  # secrets that change (an OAuth client's tokens): asked for at each use

    @classmethod
    def for_url(cls, url: str, headers: Mapping[str, str], more: Callable[[], Iterable[str]] | None = None) -> Redactor:
        parts = urllib.parse.urlsplit(url)
        found: list[str] = []
        userinfo = parts.netloc.rpartition("@")[0]
        found += [userinfo, *userinfo.split(":", 1)]
        found += [parts.query, parts.fragment]
        for _, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
            found.append(value)
        for value in headers.values():
            found += [value, value.partition(" ")[2]]  # "Bearer TOKEN": TOKEN alone too
        both = [*found, *(urllib.parse.unquote(s) for s in found), *(urllib.parse.quote(s, safe="") for s in found)]
        return cls(both, url=url, more=more)

    @classmethod
    def for_command(cls, args: Sequence[str], env: Mapping[str, str] | None) -> Redactor:
        shown = redacted_args(args)
        found = [arg.partition("=")[2] or arg for arg, said in zip(args, shown, strict=True) if arg != said]
        found += [value for name, value in (env or {}).items() if _SECRET.search(name)]
        return cls(found)

    def __call__(self, text: str) -> str:
        if self._url is not None:
            text = text.replace(self._url, public_url(self._url))
        secrets = self._secrets
        if self._more is not None:
            now = {s for s in self._more() if len(s) >= 3}
            secrets = sorted(now.union(secrets), key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, _HIDDEN)
        return text

    def cause(self, e: BaseException) -> BaseException | None:
        """`e`, to chain to an error agentkit raises, or None when its traceback would show a secret."""
        text = "".join(traceback.format_exception(e))
        return e if self(text) == text else None
