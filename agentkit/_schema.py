"""Python type hints -> JSON Schema, and JSON values -> Python values of those hints.

The schemas are written for chat templates and servers: inline (no ``$ref``), no titles, no
defaults, only the keys that say what a value may be. `from_json` is the inverse direction:
it turns an already schema-valid JSON value into the Python value the function expects
(Enum members, dataclasses, pydantic models, dates, tuples).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

import docstring_parser
import pydantic
from typing_extensions import is_typeddict

__all__ = ["UnsupportedType", "from_json", "strict", "type_schema"]

JSON = dict[str, Any]

_SCALARS: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
_FORMATS: dict[type, str] = {
    datetime.datetime: "date-time",  # before date: datetime is a subclass of date
    datetime.date: "date",
    datetime.time: "time",
}
_NONE = type(None)


class UnsupportedType(TypeError):
    """A type hint that has no JSON Schema here. Carries the offending hint."""

    def __init__(self, hint: Any, why: str = "") -> None:
        self.hint = hint
        super().__init__(f"unsupported type {_type_name(hint)}" + (f" ({why})" if why else ""))


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for py, name in _SCALARS.items():
        if type(value) is py:
            return name
    raise UnsupportedType(value, "enum values must be JSON scalars")


def _enum_schema(values: Sequence[Any]) -> JSON:
    kinds = sorted({_json_type(v) for v in values})
    return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": list(values)}


def _field_docs(cls: type) -> dict[str, str]:
    """Descriptions of a class's fields from its docstring's ``Attributes:`` section."""
    doc = cls.__doc__
    if not doc or (dataclasses.is_dataclass(cls) and doc.startswith(cls.__name__ + "(")):
        return {}  # a dataclass's generated signature is not documentation
    parsed = docstring_parser.parse(doc, style=docstring_parser.DocstringStyle.GOOGLE)
    return {
        p.arg_name: " ".join(p.description.split())
        for p in parsed.params
        if p.description and p.args[0] in ("attribute", "param")
    }


def _object_schema(
    fields: list[tuple[str, Any, bool, str | None]], stack: tuple[type, ...]
) -> JSON:
    properties: JSON = {}
    required: list[str] = []
    for name, hint, is_required, description in fields:
        prop = type_schema(hint, _stack=stack)
        if description and "description" not in prop:
            prop["description"] = description
        properties[name] = prop
        if is_required:
            required.append(name)
    out: JSON = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def _class_fields(cls: type) -> list[tuple[str, Any, bool, str | None]]:
    docs = _field_docs(cls)
    if isinstance(cls, type) and issubclass(cls, pydantic.BaseModel):
        return [
            (
                info.alias or name,
                info.annotation if not info.metadata else typing.Annotated[(info.annotation, *info.metadata)],
                info.is_required(),
                info.description or docs.get(name),
            )
            for name, info in cls.model_fields.items()
        ]
    hints = typing.get_type_hints(cls, include_extras=True)
    if dataclasses.is_dataclass(cls):
        return [
            (
                f.name,
                hints[f.name],
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                docs.get(f.name),
            )
            for f in dataclasses.fields(cls)
            if f.init
        ]
    required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset(hints))
    return [(k, h, k in required_keys, docs.get(k)) for k, h in hints.items()]


def _is_object_class(hint: Any) -> bool:
    return isinstance(hint, type) and (
        issubclass(hint, pydantic.BaseModel) or dataclasses.is_dataclass(hint) or is_typeddict(hint)
    )


def _strip_annotated(hint: Any) -> tuple[Any, str | None]:
    """``Annotated[X, "doc"]`` / ``Annotated[X, Field(description=...)]`` -> (X, description)."""
    description = None
    while get_origin(hint) is typing.Annotated:
        hint, *meta = get_args(hint)
        for m in meta:
            if isinstance(m, str):
                description = m
            elif isinstance(m, pydantic.fields.FieldInfo) and m.description:
                description = m.description
    return hint, description


def type_schema(hint: Any, *, _stack: tuple[type, ...] = ()) -> JSON:
    """The JSON Schema of values of `hint`. Raises `UnsupportedType`."""
    hint, description = _strip_annotated(hint)
    out = _bare_schema(hint, _stack)
    if description:
        out["description"] = description
    return out


def _bare_schema(hint: Any, stack: tuple[type, ...]) -> JSON:
    if hint is Any:
        return {}
    if hint is None or hint is _NONE:
        return {"type": "null"}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    for py, fmt in _FORMATS.items():
        if hint is py:
            return {"type": "string", "format": fmt}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema([m.value for m in hint])
    if _is_object_class(hint):
        if hint in stack:
            raise UnsupportedType(hint, "recursive types are not supported")
        return _object_schema(_class_fields(hint), (*stack, hint))

    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return _enum_schema(args)
    if origin is Union or origin is types.UnionType:
        return _union_schema(args, stack)
    if hint in (list, set, frozenset, tuple) or origin in (list, set, frozenset, Sequence):
        out: JSON = {"type": "array"}
        if args:
            out["items"] = type_schema(args[0], _stack=stack)
        if hint in (set, frozenset) or origin in (set, frozenset):
            out["uniqueItems"] = True
        return out
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": type_schema(args[0], _stack=stack)}
        if args == ((),):  # tuple[()]
            return {"type": "array", "maxItems": 0}
        return {
            "type": "array",
            "prefixItems": [type_schema(a, _stack=stack) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if hint is dict or origin in (dict, Mapping):
        out = {"type": "object"}
        if args:
            if args[0] is not str:
                raise UnsupportedType(hint, "JSON object keys are strings: use dict[str, ...]")
            out["additionalProperties"] = type_schema(args[1], _stack=stack)
        return out
    raise UnsupportedType(hint)


def _union_schema(args: tuple[Any, ...], stack: tuple[type, ...]) -> JSON:
    nullable = _NONE in args
    members = [type_schema(a, _stack=stack) for a in args if a is not _NONE]
    if not members:
        return {"type": "null"}
    if all(set(m) == {"type"} and isinstance(m["type"], str) for m in members):
        kinds = sorted({m["type"] for m in members}) + (["null"] if nullable else [])
        return {"type": kinds[0] if len(kinds) == 1 else kinds}
    if nullable:
        members.append({"type": "null"})
    return members[0] if len(members) == 1 else {"anyOf": members}


def strict(schema: JSON) -> JSON:
    """A copy of `schema` in which objects with declared properties reject unknown keys."""
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: strict(v) for k, v in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    elif isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(out["additionalProperties"])
    for key in ("anyOf", "prefixItems"):
        if key in out:
            out[key] = [strict(s) for s in out[key]]
    if isinstance(out.get("items"), dict):
        out["items"] = strict(out["items"])
    return out


# --- JSON value -> Python value -----------------------------------------------------------------


def from_json(hint: Any, value: Any, matches: Callable[[Any, Any], bool]) -> Any:
    """Convert a schema-valid JSON `value` into a value of `hint`.

    `matches(hint, value)` tells whether `value` is valid for `hint`'s schema; it picks the
    member of a union. Raises ValueError/TypeError (or pydantic's ValidationError) on values
    that the schema could not rule out, such as an impossible date.
    """
    hint, _ = _strip_annotated(hint)
    if value is None or hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is datetime.datetime:
        return datetime.datetime.fromisoformat(value)
    if hint is datetime.date:
        return datetime.date.fromisoformat(value)
    if hint is datetime.time:
        return datetime.time.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
        return hint.model_validate(value)
    if _is_object_class(hint):
        fields = {f[0]: f[1] for f in _class_fields(hint)}
        converted = {k: from_json(fields[k], v, matches) for k, v in value.items()}
        return converted if is_typeddict(hint) else hint(**converted)

    origin, args = get_origin(hint), get_args(hint)
    if origin is Union or origin is types.UnionType:
        for member in args:
            if member is not _NONE and matches(member, value):
                return from_json(member, value, matches)
        return value
    if origin in (list, set, frozenset, Sequence) and args:
        items = [from_json(args[0], v, matches) for v in value]
        return items if origin in (list, Sequence) else origin(items)
    if hint in (set, frozenset):
        return hint(value)
    if origin is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(args[0], v, matches) for v in value)
        return tuple(from_json(a, v, matches) for a, v in zip(args, value, strict=True))
    if hint is tuple:
        return tuple(value)
    if origin in (dict, Mapping) and args:
        return {k: from_json(args[1], v, matches) for k, v in value.items()}
    return value
