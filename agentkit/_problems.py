"""What is wrong with a model's arguments, in words a model can act on.

A model writes JSON, so a value in a problem is shown as JSON (``null``, ``true``, ``"x"``), not
as Python's repr (``None``, ``True``, ``'x'``) that jsonschema's messages use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import jsonschema
import pydantic

__all__ = ["as_json", "conversion_problems", "describe_problem", "json_message"]

# The keywords whose value jsonschema quotes with repr after the instance.
_QUOTED = ("enum", "const", "pattern", "format")


def as_json(value: Any) -> str:
    """`value` as the model would write it (its repr where JSON has no spelling for it)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def json_message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message for `error`, with the values it quotes written as JSON."""
    message: str = error.message
    if error.validator == "const":
        return f"{as_json(error.validator_value)} was expected"
    if message == f"False schema does not allow {error.instance!r}":
        return f"False schema does not allow {as_json(error.instance)}"
    if error.validator == "required":
        for name in error.validator_value or ():
            if message == f"{name!r} is a required property":
                return f"{as_json(name)} is a required property"
        return message
    head = repr(error.instance)
    if not message.startswith(head):
        if isinstance(error.instance, Mapping):  # unevaluatedProperties names the extra keys
            return _keys_as_json(message, error.instance)
        return message
    rest = message[len(head) :]
    value = error.validator_value
    if error.validator == "type":
        types = value if isinstance(value, list) else [value]
        old, new = ", ".join(map(repr, types)), ", ".join(map(as_json, types))
        if rest.endswith(old):
            rest = rest[: len(rest) - len(old)] + new
    elif error.validator in _QUOTED and repr(value) in rest:
        cut = rest.rindex(repr(value))
        rest = rest[:cut] + as_json(value) + rest[cut + len(repr(value)) :]
    return as_json(error.instance) + rest


# A Python string literal as repr writes one: in single quotes, or in double quotes.
_LITERAL = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")


def _keys_as_json(message: str, instance: Mapping[str, Any]) -> str:
    """`message` with each key of `instance` it quotes (as repr) written as JSON, in one pass."""
    reprs = {repr(key): key for key in instance}

    def rewrite(literal: re.Match[str]) -> str:
        text = literal[0]
        return as_json(reprs[text]) if text in reprs else text

    return _LITERAL.sub(rewrite, message)


def describe_problem(error: jsonschema.ValidationError, parameters: Mapping[str, Any], name: str) -> str:
    """One schema violation in words a model can act on, with its path (``items[2].name``)."""
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    path = path.lstrip(".")
    # The sub-schema that failed, not the top one: a server's schema may reach its object
    # through $ref or allOf.
    schema = error.schema if isinstance(error.schema, Mapping) else parameters
    if error.validator == "required" and not path and isinstance(error.instance, Mapping):
        missing = [r for r in error.validator_value if r not in error.instance]
        if missing:
            return f"missing required argument {', '.join(repr(m) for m in missing)}"
    # With patternProperties, jsonschema's own message names the patterns the keys miss.
    if (
        error.validator == "additionalProperties"
        and not path
        and isinstance(error.instance, Mapping)
        and "patternProperties" not in schema
    ):
        known = schema.get("properties", {})
        extra = sorted(set(error.instance) - set(known))
        if extra:
            return unknown_arguments(extra, known, name)
    return f"{path or 'arguments'}: {json_message(error)}"


def unknown_arguments(extra: list[str], known: Any, name: str) -> str:
    """The problem of arguments outside a tool's `known` ones."""
    takes = ", ".join(known) or "no arguments"
    return f"unknown argument {', '.join(repr(x) for x in extra)}; {name} takes: {takes}"


def conversion_problems(error: Exception, path: str = "") -> list[str]:
    """What a converter's exception (a pydantic validation error, an impossible date) says,
    one problem per entry, each with its path."""
    if isinstance(error, pydantic.ValidationError):
        out = []
        for e in error.errors():
            where = ".".join([path] * bool(path) + [str(p) for p in e["loc"]])
            msg = " ".join(str(e["msg"]).split())
            out.append(f"{where}: {msg}" if where else msg)
        return out
    text = " ".join(str(error).split())
    return [f"{path}: {text}" if path else text]
