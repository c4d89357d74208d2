"""Checking an MCP tool's structured result against its output schema, safely.

The SDK's client checks every structured result against the tool's listed `outputSchema` with
jsonschema's stock validator, which matches `pattern` with Python's `re`: a server's catastrophic
pattern would then stall the event loop (a backtracking `re` holds the GIL; no timeout can fire).
agentkit gives the client its own validator instead: RE2 patterns, references that never fetch,
a budget of steps per check. A schema whose check spends the budget (references that multiply)
checks nothing from then on, with a warning, like a schema that cannot be checked at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from .. import _validation

__all__ = ["ResultRefused", "check_outputs_safely"]

logger = logging.getLogger("agentkit")
_ANYTHING = _validation.validator(True, own=True)


class ResultRefused(RuntimeError):
    """The SDK refused a tool's result (structured content missing or breaking the output schema): the
    tool ran; only its result did not pass."""


def check_outputs_safely(session: Any) -> Callable[[str], bool]:
    """Make `session` (the SDK's `ClientSession`) build its output-schema validators with
    `agentkit._validation`; a schema that cannot be checked that way checks nothing (the
    result is still the server's own, as for input schemas). Returns ``checked(name)``: whether
    the tool `name`'s results are checked (False once its schema turned out uncheckable)."""
    built: dict[str, tuple[Any, Any]] = {}

    def checked(name: str) -> bool:
        hit = built.get(name)
        return hit is not None and hit[1] is not _ANYTHING

    def output_schema_validator(name: str, schema: dict[str, Any]) -> Any:
        hit = built.get(name)
        if hit is not None and hit[0] is schema:  # a new listing brings a new schema object
            return hit[1]
        try:
            checker: Any = _Bounded(name, schema, _validation.validator(schema, lenient=True), built)
        except _validation.SchemaProblem as e:
            logger.warning("the output schema of the MCP tool %r is not checked: %s", name, e)
            checker = _ANYTHING
        built[name] = (schema, checker)
        return checker

    # The SDK's own builder (a private method, mcp<3) is the one place its checks get a validator.
    session._output_schema_validator = output_schema_validator
    validate = session.validate_tool_result

    async def validate_tool_result(name: str, result: Any) -> None:
        try:
            await validate(name, result)
        except RuntimeError as e:  # the SDK's word for "this result breaks its tool's output schema"
            raise ResultRefused(str(e)) from e

    session.validate_tool_result = validate_tool_result
    return checked


class _Bounded:
    """A tool's output validator (the SDK calls only `iter_errors`) that gives up on a schema
    whose check spends its budget: a warning, and from then on that schema checks nothing."""

    def __init__(self, name: str, schema: Any, checker: Any, built: dict[str, tuple[Any, Any]]) -> None:
        self.name, self.schema, self.checker, self.built = name, schema, checker, built

    def iter_errors(self, instance: Any) -> Iterator[Any]:
        try:
            yield from self.checker.iter_errors(instance)
        except (_validation.SchemaTooCostly, RecursionError) as e:
            why = e if isinstance(e, _validation.SchemaTooCostly) else "its references loop"
            logger.warning("the output schema of the MCP tool %r is not checked: %s", self.name, why)
            self.built[self.name] = (self.schema, _ANYTHING)
