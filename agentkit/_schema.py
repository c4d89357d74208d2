"""Python type hints -> JSON Schema, and JSON values -> Python values of those hints.

The schemas are written for chat templates and servers: inline (no ``$ref``), no titles, no
defaults, only the keys that say what a value may be. `converter` is the inverse direction:
built once per hint, it turns an already schema-valid JSON value into the Python value the
function expects (Enum members, dataclasses, pydantic models, dates, tuples).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import docstring_parser
import pydantic
from typing_extensions import is_typeddict

__all__ = ["Converter", "UnsupportedType", "converter", "strict", "type_schema"]

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
    # Only a class by its name: a generic alias such as dict[int, str] forwards __name__ ("dict").
    return hint.__name__ if isinstance(hint, type) else repr(hint)


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
    try:
        parsed = docstring_parser.parse(doc, style=docstring_parser.DocstringStyle.GOOGLE)
    except docstring_parser.ParseError:  # a docstring the parser cannot read documents no field
        return {}
    return {
        p.arg_name: " ".join(p.description.split())
        for p in parsed.params
        if p.description and p.args[0] in ("attribute", "param")
    }


def _object_schema(fields: list[tuple[str, Any, bool, str | None]], stack: tuple[type, ...]) -> JSON:
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


def _strip_annotated(hint: Any) -> tuple[Any, str | None, list[Any]]:
    """``Annotated[X, "doc", Field(ge=1, description=...), Le(5)]`` -> (X, description, constraints)."""
    description = None
    constraints: list[Any] = []
    while get_origin(hint) is typing.Annotated:
        hint, *meta = get_args(hint)
        for m in meta:
            if isinstance(m, str):
                description = m
            elif isinstance(m, pydantic.fields.FieldInfo):
                description = m.description or description
                constraints.extend(m.metadata)
            else:
                constraints.append(m)
    return hint, description, constraints


# annotated_types' (and so pydantic Field's) constraints, as JSON Schema keywords.
_BOUNDS: dict[type, tuple[str, str]] = {
    annotated_types.Gt: ("gt", "exclusiveMinimum"),
    annotated_types.Ge: ("ge", "minimum"),
    annotated_types.Lt: ("lt", "exclusiveMaximum"),
    annotated_types.Le: ("le", "maximum"),
    annotated_types.MultipleOf: ("multiple_of", "multipleOf"),
}
_SIZES = {"string": ("Length", "length"), "array": ("Items", "items"), "object": ("Properties", "properties")}


def _keywords(constraint: Any, schema: JSON, hint: Any) -> JSON:
    """The keywords that say `constraint` on a value of `schema`; {} for a marker that constrains
    nothing. Raises `UnsupportedType` for a constraint JSON Schema cannot say (it would be dropped)."""
    kinds = schema.get("type")
    kinds = {kinds} if isinstance(kinds, str) else set(kinds or ())
    if isinstance(constraint, annotated_types.GroupedMetadata):  # Interval, Len
        out: JSON = {}
        for c in constraint:
            out.update(_keywords(c, schema, hint))
        return out
    if type(constraint) in _BOUNDS:
        name, keyword = _BOUNDS[type(constraint)]
        value = getattr(constraint, name)
        if not (kinds & {"integer", "number"}) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnsupportedType(hint, f"the constraint {name}={value!r} needs a number")
        return {keyword: value}
    if isinstance(constraint, (annotated_types.MinLen, annotated_types.MaxLen)):
        sized = [k for k in kinds if k in _SIZES]
        bound = "min" if isinstance(constraint, annotated_types.MinLen) else "max"
        if len(sized) != 1:
            raise UnsupportedType(hint, f"the constraint {bound}_length needs a string, a list or a dict")
        word, _ = _SIZES[sized[0]]
        return {f"{bound}{word}": getattr(constraint, f"{bound}_length")}
    if type(constraint).__name__ == "_PydanticGeneralMetadata":  # Field(pattern=..., strict=...)
        options = dict(vars(constraint))
        out = {}
        if "pattern" in options:
            if "string" not in kinds:
                raise UnsupportedType(hint, "the constraint pattern needs a string")
            pattern = options.pop("pattern")
            out["pattern"] = pattern if isinstance(pattern, str) else pattern.pattern
        options.pop("strict", None)  # JSON Schema's types are strict already
        if options:
            raise UnsupportedType(hint, f"the Field options {', '.join(sorted(options))} cannot be said in JSON Schema")
        return out
    if isinstance(constraint, pydantic.types.AllowInfNan) and not constraint.allow_inf_nan:
        raise UnsupportedType(hint, "the constraint allow_inf_nan=False cannot be said in JSON Schema")
    if isinstance(constraint, pydantic.types.Strict):
        return {}  # JSON Schema's types are strict already
    if isinstance(constraint, annotated_types.BaseMetadata):  # Predicate, Timezone, ...
        raise UnsupportedType(hint, f"the constraint {constraint!r} cannot be said in JSON Schema")
    return {}  # a marker of the user's own


def type_schema(hint: Any, *, _stack: tuple[type, ...] = ()) -> JSON:
    """The JSON Schema of values of `hint`, with the constraints of its ``Annotated`` metadata
    (pydantic's ``Field(ge=..., pattern=...)``, annotated_types). Raises `UnsupportedType`."""
    bare, description, constraints = _strip_annotated(hint)
    out = _bare_schema(bare, _stack)
    for c in constraints:
        out.update(_keywords(c, out, bare))
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
        if args in ((), ((),)):  # tuple[()]: its args are () from Python 3.11 on, ((),) before
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
    # A typing union has two distinct members or more, so at least one is not None.
    nullable = _NONE in args
    members = [type_schema(a, _stack=stack) for a in args if a is not _NONE]
    if all(set(m) == {"type"} and isinstance(m["type"], str) for m in members):
        kinds = sorted({m["type"] for m in members}) + (["null"] if nullable else [])
        return {"type": kinds[0] if len(kinds) == 1 else kinds}
    return {"anyOf": [*members, {"type": "null"}] if nullable else members}


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

Converter = Callable[[Any], Any]
"""Turns a schema-valid JSON value into the Python value a hint describes."""


_PARSERS: dict[type, Converter] = {
    datetime.datetime: datetime.datetime.fromisoformat,
    datetime.date: datetime.date.fromisoformat,
    datetime.time: datetime.time.fromisoformat,
}


def _identity(value: Any) -> Any:
    return value


def converter(
    hint: Any, member_test: Callable[[Any], Callable[[Any], bool]], *, _stack: tuple[type, ...] = ()
) -> Converter:
    """Build, once, the function that converts schema-valid JSON values into values of `hint`.

    Every nested hint (a dataclass's or TypedDict's fields, a union's members) is resolved
    here, when the tool is defined: under ``from __future__ import annotations`` resolving a
    class's fields makes new hint objects each time, so nothing may be looked up per value.
    `member_test(member)` returns the check that picks a union's member for a value. The
    converter raises ValueError/TypeError (or pydantic's ValidationError) on values that the
    schema could not rule out, such as an impossible date.
    """
    # No None check here: null passes the schema only where the hint allows it (a union, Any,
    # None), and those converters hand it back unchanged.
    hint = _strip_annotated(hint)[0]
    return _identity if hint is Any else _bare_converter(hint, member_test, _stack)


def _to_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _to_int(value: Any) -> Any:
    # JSON Schema counts 2.0 as an integer; the function was promised an int.
    return int(value) if isinstance(value, float) else value


def _literal_converter(choices: tuple[Any, ...]) -> Converter:
    # The enum check matches 1.0 to a choice of 1 (JSON numbers): hand over the choice itself.
    ints: dict[Any, Any] = {c: c for c in choices if type(c) is int}
    if not ints:
        return _identity
    return lambda value: ints.get(value, value) if type(value) is float else value


def _bare_converter(
    hint: Any, member_test: Callable[[Any], Callable[[Any], bool]], stack: tuple[type, ...]
) -> Converter:
    def sub(h: Any) -> Converter:
        return converter(h, member_test, _stack=stack)

    if hint is float:
        return _to_float
    if hint is int:
        return _to_int
    for py, parse in _PARSERS.items():
        if hint is py:
            return parse
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
        model: type[pydantic.BaseModel] = hint
        return model.model_validate
    if _is_object_class(hint):
        return _object_converter(hint, member_test, stack)

    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return _literal_converter(args)
    if origin is Union or origin is types.UnionType:
        return _union_converter([m for m in args if m is not _NONE], member_test, stack)
    if origin in (list, set, frozenset, Sequence) and args:
        item = sub(args[0])
        if origin in (list, Sequence):
            return lambda value: [item(v) for v in value]
        make = origin
        return lambda value: make(item(v) for v in value)
    if hint in (set, frozenset, tuple):
        return hint  # type: ignore[no-any-return]
    if origin is tuple:
        if args in ((), ((),)):
            return tuple
        if len(args) == 2 and args[1] is Ellipsis:
            item = sub(args[0])
            return lambda value: tuple(item(v) for v in value)
        items = [sub(a) for a in args]
        return lambda value: tuple(c(v) for c, v in zip(items, value, strict=True))
    if origin in (dict, Mapping) and args:
        item = sub(args[1])
        return lambda value: {k: item(v) for k, v in value.items()}
    return _identity


def _object_converter(
    cls: type, member_test: Callable[[Any], Callable[[Any], bool]], stack: tuple[type, ...]
) -> Converter:
    if cls in stack:
        raise UnsupportedType(cls, "recursive types are not supported")
    fields = {f[0]: converter(f[1], member_test, _stack=(*stack, cls)) for f in _class_fields(cls)}

    def convert(value: Any) -> Any:
        return cls(**{k: fields[k](v) for k, v in value.items()})  # a TypedDict's call makes a dict

    return convert


def _union_converter(
    members: list[Any], member_test: Callable[[Any], Callable[[Any], bool]], stack: tuple[type, ...]
) -> Converter:
    # The first member whose schema the value satisfies converts it (a union's order matters).
    choices = [(member_test(m), converter(m, member_test, _stack=stack)) for m in members]

    def convert(value: Any) -> Any:
        for test, convert_member in choices:
            if test(value):
                return convert_member(value)
        return value

    return convert
