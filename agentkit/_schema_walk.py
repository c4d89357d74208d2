"""Two walks over a JSON Schema that a tool is described by: closing its objects (an argument
outside ``properties`` is refused) and converting a checked value (``5.0`` for an integer is ``5``).

Closing follows OpenAI's strict mode rather than JSON Schema's default: an object schema that
declares ``properties`` and says nothing of more keys gets ``additionalProperties: false``. Where
an object is put together from parts (``allOf``, ``$ref``, ``if``, or ``properties`` next to
``anyOf``/``oneOf``), a part cannot close itself without refusing its siblings' keys, so the
place the parts meet gets ``unevaluatedProperties: false`` instead, which sees every part's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import referencing.exceptions

from . import _schema_parts, _validation

__all__ = ["close", "converter", "declared"]

JSON = dict[str, Any]

# Keywords whose subschemas describe the same value as their parent (a part of it).
_IN_PLACE = ("allOf", "$ref", "$dynamicRef", "if", "then", "else", "dependentSchemas")
# Keywords whose subschemas describe a value inside the parent's (a fresh place).
_ONE = ("additionalProperties", "items", "contains", "unevaluatedItems")
_MANY = ("properties", "patternProperties", "$defs", "definitions")
# Where a $ref may lead that is no value's place: draft-07 wrote "definitions" (and $ref still finds it).
_DEFINITIONS = ("$defs", "definitions")
_HOPS = 32  # references followed in a row without reaching a new value: a loop


def _composed(node: Mapping[str, Any]) -> bool:
    return any(k in node for k in _IN_PLACE) or (
        "properties" in node and any(k in node for k in ("anyOf", "oneOf"))
    )


def _referenced(node: Mapping[str, Any], resolve: Any) -> Any:
    """What `node`'s ``$ref`` resolves to (a `referencing` Resolved), or None: no reference, or
    one that does not resolve."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return None
    try:
        return resolve.lookup(ref)
    except referencing.exceptions.Unresolvable:
        return None


def _parts(node: Any, resolve: Any) -> Iterator[Mapping[str, Any]]:
    """`node` and every subschema that describes the same value (through references too)."""
    seen: set[int] = set()
    stack = [(node, resolve, 0)]
    while stack:
        item, res, hops = stack.pop()
        if not isinstance(item, Mapping) or id(item) in seen or hops > _HOPS:
            continue
        seen.add(id(item))
        yield item
        children = []
        found = _referenced(item, res)
        if found is not None:
            children.append((found.contents, found.resolver, hops + 1))
        for key in ("allOf", "anyOf", "oneOf"):
            children.extend((sub, res, hops) for sub in item.get(key) or ())
        children.extend((item[k], res, hops) for k in ("then", "else") if k in item)
        children.extend((sub, res, hops) for sub in (item.get("dependentSchemas") or {}).values())
        stack.extend(reversed(children))  # depth first, in the schema's order


def declared(schema: Any, resolve: Any) -> list[str]:
    """The argument names the parts of a top schema declare, in order."""
    names: dict[str, None] = {}
    for part in sorted(_parts(schema, resolve), key=lambda p: p is not schema):
        names.update(dict.fromkeys(part.get("properties") or {}))
    return list(names)


def close(schema: Any, resolve: Any) -> Any:
    """A copy of `schema` whose objects refuse keys they do not declare (see the module)."""
    return _close(schema, _schema_parts.Parts(resolve), root=True)


# A part that says what more keys may be leaves the place open; so does patternProperties in a
# part, where jsonschema's unevaluatedProperties would match with `re` (`_validation` refuses it).
_KEEPS_OPEN = frozenset(
    {"additionalProperties", "unevaluatedProperties", "patternProperties", _schema_parts.IF_PATTERNS}
)


def _close(node: Any, parts: _schema_parts.Parts, *, root: bool) -> Any:
    if not isinstance(node, Mapping):
        return node
    out: JSON = dict(node)
    open_ = "additionalProperties" not in node and "unevaluatedProperties" not in node
    if root and open_:
        if not _composed(node):
            if "properties" in node:
                out["additionalProperties"] = False
        else:
            held = parts.keywords(node)
            if "properties" in held and not held & _KEEPS_OPEN:
                out["unevaluatedProperties"] = False
    # anyOf/oneOf members are whole alternatives, unless the parent adds to them.
    alternatives = root and not _composed(node)
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            out[key] = [_close(s, parts, root=alternatives) for s in node[key]]
    for key in ("allOf",):
        if isinstance(node.get(key), list):
            out[key] = [_close(s, parts, root=False) for s in node[key]]
    for key in ("if", "then", "else", "not"):
        if key in node:
            out[key] = _close(node[key], parts, root=False)
    if isinstance(node.get("dependentSchemas"), Mapping):
        out["dependentSchemas"] = {
            k: _close(s, parts, root=False) for k, s in node["dependentSchemas"].items()
        }
    for key in _ONE:
        if key in node:
            out[key] = _close(node[key], parts, root=True)
    if isinstance(node.get("prefixItems"), list):
        out["prefixItems"] = [_close(s, parts, root=True) for s in node["prefixItems"]]
    for key in _MANY:
        if isinstance(node.get(key), Mapping):
            # A definition is a part of whatever refers to it: that place is closed instead.
            root_ = key not in _DEFINITIONS
            out[key] = {k: _close(s, parts, root=root_) for k, s in node[key].items()}
    return out


# --- converting a checked value -----------------------------------------------------------------

Valid = Callable[[Any, Any], bool]
"""``valid(value, subschema)``: whether `value` satisfies `subschema` (to pick a union's member)."""


def converter(schema: Any, resolve: Any, valid: Valid) -> Callable[[Any], Any]:
    """The function that turns a value `schema` accepts into the Python value a function would
    be given from ``@tool``: a whole number where the schema wants an integer is an `int`.

    It has the budget of a check (references that multiply cost as much here as there) and
    raises `SchemaTooCostly` when it spends it."""

    def convert(value: Any) -> Any:
        budget = [max(_validation.STEPS, _validation.STEPS_PER_PART * _validation.parts(value))]
        return _convert(value, schema, resolve, valid, 0, budget)

    return convert


def _convert(value: Any, node: Any, resolve: Any, valid: Valid, hops: int, budget: list[int]) -> Any:
    if not isinstance(node, Mapping) or hops > _HOPS:
        return value
    budget[0] -= 1
    if budget[0] < 0:
        raise _validation.SchemaTooCostly("the schema is too costly to convert the arguments by")
    found = _referenced(node, resolve)
    if found is not None:
        value = _convert(value, found.contents, found.resolver, valid, hops + 1, budget)
    for part in node.get("allOf") or ():
        value = _convert(value, part, resolve, valid, hops + 1, budget)
    for key in ("anyOf", "oneOf"):
        member = next((m for m in node.get(key) or () if valid(value, m)), None)
        if member is not None:
            value = _convert(value, member, resolve, valid, hops + 1, budget)
    if isinstance(value, float) and value.is_integer():
        return _whole(value, node)
    if isinstance(value, dict):
        return {k: _convert(v, _property_schema(k, node), resolve, valid, 0, budget) for k, v in value.items()}
    if isinstance(value, list):
        prefix = node.get("prefixItems") or []
        items = node.get("items")
        return [
            _convert(v, prefix[i] if i < len(prefix) else items, resolve, valid, 0, budget) for i, v in enumerate(value)
        ]
    return value


def _whole(value: float, node: Mapping[str, Any]) -> Any:
    kinds = node.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    choices = [*(node.get("enum") or ()), *([node["const"]] if "const" in node else [])]
    if ("integer" in kinds and "number" not in kinds) or any(type(c) is int and c == value for c in choices):
        return int(value)
    return value


def _property_schema(key: str, node: Mapping[str, Any]) -> Any:
    properties = node.get("properties")
    if isinstance(properties, Mapping) and key in properties:
        return properties[key]
    for pattern, sub in (node.get("patternProperties") or {}).items():
        if _validation.search(pattern, key, lenient=True):
            return sub
    return node.get("additionalProperties")
