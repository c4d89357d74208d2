"""JSON Schema validation that a hostile schema cannot turn into a fetch or a freeze.

Every validator in agentkit (a `@tool`'s arguments, an MCP tool's arguments, a typed output) is
built here. jsonschema as shipped would fetch a ``$ref`` to an http URL (urllib, no timeout) and
match ``pattern`` with Python's ``re``, which backtracks: ``^(a+)+$`` against ``"aaaa…!"`` runs
for hours, holding the GIL, inside the event loop. Here references resolve only within the
schema document (and the bundled meta-schemas), and every regular expression — ``pattern``,
``patternProperties`` (also where ``additionalProperties`` consults it) and the ``"regex"``
format — runs on RE2, whose matching time is linear in the text. A pattern RE2 cannot compile
(lookaround, backreferences) is refused, never handed to ``re``.

A schema can also cost work out of all proportion to its size: ``$defs`` whose each entry is an
``allOf`` of two references to the one before doubles the work at each level (1.5 KB, hours
per check). So one check has a budget of steps (each descent into a subschema, each pattern
tried on a key, each item of ``enum`` and ``uniqueItems``): `STEPS`, or `STEPS_PER_PART` for each
part of the value checked if that is more. A check that spends it raises `SchemaTooCostly`;
``uniqueItems`` is checked in O(n log n), not jsonschema's O(n²) for objects.
"""

from __future__ import annotations

import contextvars
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jsonschema
import jsonschema_specifications
import re2
import referencing
import referencing.exceptions
import referencing.jsonschema

from . import _formats, _schema_parts

__all__ = [
    "FORMATS", "FORMAT_CHECKER", "STEPS", "STEPS_PER_PART", "SchemaProblem", "SchemaTooCostly", "parts", "resolver",
    "search", "validator",
]  # fmt: skip


class SchemaProblem(ValueError):
    """A schema agentkit cannot check safely: a reference outside the document, a pattern RE2
    cannot compile, or a schema that is not valid JSON Schema. The message says which."""


class SchemaTooCostly(SchemaProblem):
    """A check that spent its budget of steps (raised by a validator's `iter_errors`): the
    schema fans out (references that multiply), or the value is too large for it."""


# --- the budget of one check --------------------------------------------------------------------

STEPS = 100_000
"""Steps any one check may take (about half a second of pure Python)."""
STEPS_PER_PART = 10
"""Steps a check may take for each part (value, item, key) of a large value checked."""


class _Budget:
    """The steps left to one check (shared by every subschema it descends into)."""

    __slots__ = ("grown", "instance", "left")

    def __init__(self, instance: Any) -> None:
        self.left = STEPS
        self.instance = instance
        self.grown = False

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            self._exhausted()

    def _exhausted(self) -> None:
        limit = STEPS
        if not self.grown:  # counted only now: a small value costs nothing to count
            self.grown = True
            limit = max(STEPS, STEPS_PER_PART * parts(self.instance))
            self.left += limit - STEPS
            if self.left >= 0:
                return
        raise SchemaTooCostly(
            f"the schema is too costly to check: over {limit:,} steps for this value (references that "
            "multiply, such as allOf of the same $ref twice, or patterns times keys)"
        )


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("agentkit_schema_budget", default=None)


def _spend(steps: int) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(steps)


def parts(value: Any) -> int:
    """How many values, items and keys make up a JSON value."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, Mapping):
            count += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _canonical(value: Any) -> Any:
    """A hashable form of a JSON value, equal where JSON Schema says equal: 1 and 1.0 are, True
    and 1 are not, and an object's key order does not matter."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)  # Python: 1 == 1.0 and hash(1) == hash(1.0)
    if isinstance(value, Mapping):
        return ("object", frozenset((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("array", tuple(_canonical(v) for v in value))
    return (type(value).__name__, value)


# --- regular expressions ---------------------------------------------------------------------------

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print each refused pattern to stderr


_HEX = frozenset("0123456789abcdefABCDEF")


def _ecma_escapes(pattern: str) -> str:
    r"""JSON Schema patterns are ECMA-262: its ``\uXXXX`` and ``\u{X…}`` are RE2's ``\x{…}``.

    Linear in the pattern: each character is looked at, and copied, a bounded number of times."""
    if "\\u" not in pattern:
        return pattern
    out: list[str] = []
    start = i = 0
    brace = -2  # the first "}" at or after the last place looked from (-1: there is none)
    while (i := pattern.find("\\", i)) >= 0:
        if pattern.startswith("u", i + 1):
            hex4 = pattern[i + 2 : i + 6]
            if len(hex4) == 4 and _HEX.issuperset(hex4):
                out += (pattern[start:i], f"\\x{{{hex4}}}")
                i = start = i + 6
                continue
            if pattern.startswith("{", i + 2):
                if brace != -1 and brace < i + 2:
                    brace = pattern.find("}", i + 2)
                if brace != -1:
                    out += (pattern[start:i], "\\x", pattern[i + 2 : brace + 1])
                    i = start = brace + 1
                    continue
        i += 2  # an escape is two characters: ``\\u`` is a backslash, then a "u"
    out.append(pattern[start:])
    return "".join(out)


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> tuple[Any, str]:
    # (RE2's pattern, "") or (None, why not): a failure is remembered too (lru_cache keeps no exception).
    try:
        return re2.compile(_ecma_escapes(pattern), options=_OPTIONS), ""
    except (re2.error, UnicodeError, TypeError) as e:
        why = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        return None, why or "RE2 refuses it"


def compile_pattern(pattern: str) -> Any:
    """`pattern` compiled by RE2 (cached). Raises `SchemaProblem` when RE2 cannot compile it."""
    compiled, why = _compiled(pattern)
    if compiled is None:
        raise SchemaProblem(
            f"the pattern {pattern!r} cannot be checked: {why} (agentkit matches patterns with RE2, in "
            "linear time: no lookaround or backreferences)"
        )
    return compiled


def search(pattern: str, text: str, *, lenient: bool = False) -> bool | None:
    """Whether `pattern` matches somewhere in `text` (JSON Schema's unanchored ``pattern``).

    A pattern RE2 cannot compile raises `SchemaProblem`, or, when `lenient`, gives None: unknown.
    """
    try:
        compiled = compile_pattern(pattern)
    except SchemaProblem:
        if lenient:
            return None
        raise
    try:
        return compiled.search(text) is not None
    except UnicodeEncodeError:  # a lone surrogate from JSON's \ud800: match it as U+FFFD
        return compiled.search(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")) is not None


def additional_keys(instance: Mapping[str, Any], schema: Mapping[str, Any], *, lenient: bool = False) -> list[str]:
    """The keys of `instance` that neither ``properties`` nor ``patternProperties`` of `schema`
    cover (when `lenient`, a key a pattern RE2 cannot compile might cover is covered)."""
    properties = schema.get("properties") or {}
    patterns = schema.get("patternProperties") or {}
    return [
        k for k in instance if k not in properties and all(search(p, k, lenient=lenient) is False for p in patterns)
    ]


# --- the keywords that match regular expressions ----------------------------------------------------


def _validator_class(lenient: bool) -> Any:
    """jsonschema's 2020-12 validator with RE2 wherever it matches a regular expression (each
    keyword is jsonschema's own, from jsonschema/_keywords.py, with RE2 in place of `re`)."""

    def pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and search(pattern, instance, lenient=lenient) is False:
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    def pattern_properties(validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        _spend(len(patterns) * len(instance))
        for p, subschema in patterns.items():
            for key, value in instance.items():
                if search(p, key, lenient=lenient):
                    yield from validator.descend(value, subschema, path=key, schema_path=p)

    def additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        _spend(len(schema.get("patternProperties") or ()) * len(instance))
        extras = additional_keys(instance, schema, lenient=lenient)
        if validator.is_type(additional, "object"):
            for extra in extras:
                yield from validator.descend(instance[extra], additional, path=extra)
        elif not additional and extras:
            names = ", ".join(json.dumps(e, ensure_ascii=False) for e in sorted(extras))
            if "patternProperties" in schema:
                verb = "does" if len(extras) == 1 else "do"
                patterns = ", ".join(json.dumps(p, ensure_ascii=False) for p in sorted(schema["patternProperties"]))
                yield jsonschema.ValidationError(f"{names} {verb} not match any of the regexes: {patterns}")
            else:
                verb = "was" if len(extras) == 1 else "were"
                yield jsonschema.ValidationError(f"Additional properties are not allowed ({names} {verb} unexpected)")

    def unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if unique and validator.is_type(instance, "array"):
            _spend(len(instance))
            if len({_canonical(item) for item in instance}) < len(instance):
                yield jsonschema.ValidationError(f"{instance!r} has non-unique elements")

    stock_enum = jsonschema.Draft202012Validator.VALIDATORS["enum"]

    def enum(validator: Any, enums: Any, instance: Any, schema: Any) -> Iterator[Any]:
        _spend(len(enums) if isinstance(enums, list) else 1)
        yield from stock_enum(validator, enums, instance, schema)

    cls: Any = jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        {
            "pattern": pattern,
            "patternProperties": pattern_properties,
            "additionalProperties": additional_properties,
            "uniqueItems": unique_items,
            "enum": enum,
        },
    )
    stock_evolve = cls.evolve
    stock_iter_errors = cls.iter_errors

    def evolve(self: Any, **changes: Any) -> Any:
        # Every descent into a subschema (and every $ref followed) evolves the validator: one step.
        _spend(1)
        # jsonschema picks a subschema's validator class by its "$schema": a stock class, with `re`
        # (a $ref to "#" under a root "$schema" would do it). Every subschema is checked here, as 2020-12.
        schema = changes.get("schema", self.schema)
        if isinstance(schema, Mapping) and "$schema" in schema:
            changes["schema"] = {k: v for k, v in schema.items() if k != "$schema"}
        return stock_evolve(self, **changes)

    def iter_errors(self: Any, instance: Any, _schema: Any = None) -> Iterator[Any]:
        if _BUDGET.get() is not None:  # a keyword's own is_valid (not, if, contains): the same check
            yield from stock_iter_errors(self, instance, _schema)
            return
        budget = _Budget(instance)
        errors = stock_iter_errors(self, instance, _schema)
        while True:
            # Set around each step only: the caller may stop between errors and never come back.
            token = _BUDGET.set(budget)
            try:
                error = next(errors, None)
            finally:
                _BUDGET.reset(token)
            if error is None:
                return
            yield error

    cls.evolve = evolve
    cls.iter_errors = iter_errors
    return cls


def _format_checker(lenient: bool) -> jsonschema.FormatChecker:
    """The checks of `FORMATS`, with ``"regex"`` meaning "RE2 compiles it" (when `lenient`, any
    string: the server, with its own engine, decides)."""

    def is_regex(instance: object) -> bool:
        if isinstance(instance, str) and not lenient:
            compile_pattern(instance)
        return True

    def strings_only(check: Callable[[str], bool]) -> Callable[[object], bool]:
        return lambda instance: not isinstance(instance, str) or check(instance)

    checker = jsonschema.FormatChecker(formats=())
    for name, check in _formats.CHECKS.items():
        checker.checks(name, raises=ValueError)(strings_only(check))
    checker.checks("regex", raises=SchemaProblem)(is_regex)
    return checker


FORMATS = (*_formats.CHECKS, "regex")
"""The ``format`` values agentkit enforces (any other is an annotation, as JSON Schema says)."""


_CLASSES = {lenient: (_validator_class(lenient), _format_checker(lenient)) for lenient in (False, True)}
FORMAT_CHECKER = _CLASSES[False][1]
"""The checks of `FORMATS`, with ``"regex"`` meaning "RE2 compiles it"."""


# --- references ---------------------------------------------------------------------------------


def _refuse(uri: str) -> referencing.Resource[Any]:
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


_LOCAL_ONLY: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse)  # type: ignore[call-arg]
_WITH_META_SCHEMAS = jsonschema_specifications.REGISTRY.combine(_LOCAL_ONLY)
# jsonschema's own check_schema uses its stock class: a schema's long "type" array of objects
# would meet its quadratic uniqueItems, with no budget. The meta-schema check is one of ours.
_META_CHECKERS = {
    lenient: cls(cls.META_SCHEMA, registry=_WITH_META_SCHEMAS, format_checker=checker)
    for lenient, (cls, checker) in _CLASSES.items()
}


def _check_references(resolver: referencing._core.Resolver[Any], resource: referencing.Resource[Any]) -> None:
    contents = resource.contents
    if isinstance(contents, Mapping):
        for key in ("$ref", "$dynamicRef"):
            ref = contents.get(key)
            if isinstance(ref, str):
                try:
                    resolver.lookup(ref)
                except referencing.exceptions.Unresolvable:
                    raise SchemaProblem(
                        f"the reference {ref!r} does not resolve within the schema "
                        "(agentkit never fetches a schema from elsewhere)"
                    ) from None
    for sub in resource.subresources():
        _check_references(resolver.in_subresource(sub), sub)


def _nodes(value: Any) -> Iterator[Any]:
    """Every value in a JSON document (data and subschemas alike)."""
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _unevaluated_beside_patterns(schema: Any, resolve: Any) -> bool:
    """Whether an ``unevaluatedProperties`` has ``patternProperties`` among its object's parts:
    jsonschema's keyword matches those (and only those) with `re`."""
    objects = [item for item in _nodes(schema) if isinstance(item, Mapping)]
    if not {"unevaluatedProperties", "patternProperties"} <= {key for item in objects for key in item}:
        return False
    if any("$id" in item for item in objects[1:]):
        return True  # below a nested $id references resolve from there, not from the top
    parts = _schema_parts.Parts(resolve)
    risky = {"patternProperties", _schema_parts.IF_PATTERNS, _schema_parts.UNRESOLVED}
    return any("unevaluatedProperties" in item and not risky.isdisjoint(parts.keywords(item)) for item in objects)


def _compile_patterns(schema: Any) -> None:
    """Compile every pattern of a schema written from type hints (raises `SchemaProblem`)."""
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            if isinstance(item.get("pattern"), str):
                compile_pattern(item["pattern"])
            for key in item.get("patternProperties") or ():
                compile_pattern(key)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def validator(schema: Mapping[str, Any] | bool, *, lenient: bool = False, own: bool = False) -> Any:
    """A JSON Schema 2020-12 validator of `schema` that never fetches and matches with RE2.

    Raises `SchemaProblem` when `schema` cannot be checked that way: not valid JSON Schema, a
    reference that does not resolve within it, a pattern RE2 cannot compile (unless `lenient`:
    then such a pattern checks nothing, and a "regex" format takes any string). A reference that
    fails during validation (one into a place no subschema is) raises
    `referencing.exceptions.Unresolvable` from the validator, without a fetch either. `own`: a
    schema agentkit wrote from type hints (valid, no references), so only its patterns are checked.
    """
    cls, format_checker = _CLASSES[lenient]
    if own:
        _compile_patterns(schema)
        return cls(schema, registry=_LOCAL_ONLY, format_checker=format_checker)
    try:
        wrong = next(iter(_META_CHECKERS[lenient].iter_errors(schema)), None)
        if wrong is not None:
            if isinstance(wrong.cause, SchemaProblem):
                raise wrong.cause from None
            raise SchemaProblem(f"the schema is not valid JSON Schema: {wrong.message}") from None
        resource = referencing.jsonschema.DRAFT202012.create_resource(schema)
        resolve = _WITH_META_SCHEMAS.resolver_with_root(resource)
        _check_references(resolve, resource)
        if _unevaluated_beside_patterns(schema, resolve):
            raise SchemaProblem("unevaluatedProperties together with patternProperties cannot be checked")
    except RecursionError:
        raise SchemaProblem("the schema is nested too deeply to be checked") from None
    return cls(schema, registry=_LOCAL_ONLY, format_checker=format_checker)


def resolver(schema: Mapping[str, Any] | bool) -> Any:
    """A `referencing` resolver of the references within `schema` (and the bundled meta-schemas):
    ``resolver.lookup(ref)`` never fetches."""
    return _WITH_META_SCHEMAS.resolver_with_root(referencing.jsonschema.DRAFT202012.create_resource(schema))
