"""An MCP server's elicitation asked of the person in the terminal: one question per field.

The message, titles, descriptions and choices are the server's words (untrusted): printed with every
control and invisible character written out. The answer is only converted here (a number, a yes/no,
one of the choices); agentkit's MCP client checks it against the schema before it is sent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ._visible import exact

_YES, _NO = ("y", "yes", "true"), ("n", "no", "false")


def terminal_elicit(read: Callable[[str], str] = input) -> Callable[[str, dict[str, Any]], Any]:
    """The ``elicit=`` of the chat's MCP servers: asks in the terminal with `read` (``input``)."""

    async def elicit(message: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        # Asked on the event loop on purpose: the run waits for the person anyway, and a question read
        # in another thread would be left reading stdin (racing the next prompt) when Ctrl-C stops it.
        return ask_form(message, schema, read)

    return elicit


def ask_form(message: str, schema: dict[str, Any], read: Callable[[str], str] = input) -> dict[str, Any] | None:
    """The person's answer to the form `schema` (flat: one level of properties), or None when they
    decline: an empty answer to the first question, end of input (Ctrl-D) or Ctrl-C."""
    found, listed = schema.get("properties"), schema.get("required")
    properties: dict[str, Any] = found if isinstance(found, dict) else {}
    required: list[Any] = listed if isinstance(listed, list) else []
    # On a line of its own: the chat's printer leaves the running call's line open.
    print(f"\nthe MCP server asks: {exact(message)}", flush=True)
    print("  (an empty first answer or Ctrl-D declines)", flush=True)
    answer: dict[str, Any] = {}
    try:
        for i, (name, field) in enumerate(properties.items()):
            field = field if isinstance(field, dict) else {}
            while True:
                text = read(_question(str(name), field, name in required)).strip()
                if not text:
                    if i == 0:
                        return None
                    if "default" in field or name not in required:
                        break  # the default (agentkit's client fills it in), or left out
                    print("  an answer is needed", flush=True)
                    continue
                try:
                    answer[str(name)] = convert(text, field)
                    break
                except ValueError as e:
                    print(f"  {e}", flush=True)
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stdout, flush=True)
        return None
    return answer


def _question(name: str, field: dict[str, Any], required: bool) -> str:
    title = field.get("title")
    parts = [exact(title if isinstance(title, str) else name)]
    if isinstance(field.get("description"), str):
        parts.append(f"({exact(field['description'])})")
    kind = field.get("type")
    choices = _choices(field)
    if choices is not None:
        parts.append("[" + " / ".join(exact(str(c)) for c in choices) + "]")
    elif kind in ("integer", "number", "boolean"):
        parts.append("[yes / no]" if kind == "boolean" else f"[{kind}]")
    if "default" in field:
        parts.append(f"(default: {exact(str(field['default']))})")
    elif not required:
        parts.append("(optional)")
    return "  " + " ".join(parts) + ": "


def _choices(field: dict[str, Any]) -> list[Any] | None:
    if isinstance(field.get("enum"), list):
        return list(field["enum"])
    options = field.get("oneOf") or field.get("anyOf")
    if isinstance(options, list) and all(isinstance(o, dict) and "const" in o for o in options):
        return [o["const"] for o in options]
    return None


def convert(text: str, field: dict[str, Any]) -> Any:
    """`text` as the value `field` (a JSON Schema property) takes; ValueError says what is wanted."""
    choices = _choices(field)
    if choices is not None:
        for choice in choices:
            if text == str(choice) or text.lower() == str(choice).lower():
                return choice
        raise ValueError("one of: " + ", ".join(exact(str(c)) for c in choices))
    kind = field.get("type")
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("a whole number, e.g. 42") from None
    if kind == "number":
        try:
            value = float(text)
        except ValueError:
            raise ValueError("a number, e.g. 4.2") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("a finite number")
        return value
    if kind == "boolean":
        if text.lower() in _YES:
            return True
        if text.lower() in _NO:
            return False
        raise ValueError("yes or no")
    return text
