"""The argument checks of a tool described by a JSON Schema (`agentkit.tools.SchemaTool`).

They equal `@tool`'s: unknown arguments refused (see `agentkit._schema_walk`), whole numbers
converted where the schema wants integers, formats, enums and bounds enforced.

What is done with a schema agentkit cannot check safely (invalid, a reference outside itself, a
pattern RE2 cannot compile, a check that spends its budget) depends on whose it is. A user's
(`Tool.from_schema`) raises `ToolDefinitionError`, or, when found only while checking, refuses
the arguments: never "no checks". An MCP server's is left to the server, which checks its own
arguments, with a warning: a server's schema must not break a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema
import referencing.exceptions

from . import _schema_walk, _validation
from ._problems import describe_problem, unknown_arguments
from .exceptions import ToolArgumentsError, ToolDefinitionError

__all__ = ["SchemaCheck"]

logger = logging.getLogger("agentkit")


class SchemaCheck:
    """The checks of one tool's arguments against its `parameters` schema, built once."""

    def __init__(self, name: str, parameters: Any, *, server: bool, server_name: str | None = None) -> None:
        self.name = name
        """The tool's name, as the model sees it (in problems)."""
        self.parameters = parameters
        """The schema as given (in problems)."""
        self.server = server
        """Whether the schema is an MCP server's: what cannot be checked is left to the server."""
        self.server_name = server_name or name
        """The tool's name on its server (in warnings)."""
        self.validator: Any = None
        """The validator of the closed schema; None once the checks are left to the server."""
        self._known: list[str] = []
        self._convert: Callable[[Any], Any] | None = None
        try:
            self._build()
        except _validation.SchemaProblem as e:
            if not server:
                raise ToolDefinitionError(f"{name}: {e}") from None
            self._unchecked(str(e))

    def _build(self) -> None:
        schema = self.parameters
        if not isinstance(schema, Mapping):
            raise _validation.SchemaProblem("the parameters must be a JSON Schema object")
        try:
            closed = _schema_walk.close(schema, _validation.resolver(schema))
            validator = _validation.validator(closed, lenient=self.server)
            kind = schema.get("type", "object")
            if kind != "object" and not (isinstance(kind, list) and "object" in kind):
                raise _validation.SchemaProblem(f"the parameters must describe a JSON object, not {kind!r}")
            resolve = _validation.resolver(closed)
            list(validator.iter_errors({}))  # a loop of references shows at the first check
        except RecursionError:
            raise _validation.SchemaProblem("its references loop, or it is nested too deeply") from None
        except referencing.exceptions.Unresolvable as e:
            raise _validation.SchemaProblem(f"the reference {e.ref!r} does not resolve within the schema") from None
        self.validator = validator
        self._known = _schema_walk.declared(closed, resolve)
        self._convert = _schema_walk.converter(closed, resolve, lambda v, sub: validator.evolve(schema=sub).is_valid(v))

    def _unchecked(self, why: str) -> None:
        also = f" (the model calls it {self.name})" if self.server_name != self.name else ""
        said = "the arguments of %s are not checked by agentkit (the server checks them): %s%s"
        logger.warning(said, self.server_name, why, also)
        self.validator = None
        self._convert = None

    def errors(self, arguments: dict[str, Any]) -> list[jsonschema.ValidationError]:
        """What is wrong with `arguments` (a user's tool raises `ToolArgumentsError` for a
        schema found unreadable only now, and `SchemaTooCostly` for a check over budget)."""
        if self.validator is None:
            return []
        try:
            return list(self.validator.iter_errors(arguments))
        except referencing.exceptions.Unresolvable as e:  # a $ref into a place no subschema is
            why = f"the reference {e.ref!r} does not resolve within the schema"
        except RecursionError:  # {"$ref": "#"} reached only through such a place
            why = "its references loop"
        except _validation.SchemaTooCostly as e:
            if not self.server:
                raise
            why = str(e)  # every later call would cost as much
        if not self.server:  # refused, never let through unchecked
            raise ToolArgumentsError(f"The arguments of {self.name} cannot be checked: {why}.")
        self._unchecked(why)
        return []

    def problem(self, error: jsonschema.ValidationError) -> str:
        """One problem, worded for the model (unknown arguments by name where objects are closed
        with ``unevaluatedProperties``)."""
        if (
            error.validator == "unevaluatedProperties"
            and error.validator_value is False
            and not error.absolute_path
            and isinstance(error.instance, Mapping)
        ):
            extra = sorted(set(error.instance) - set(self._known))
            if extra:
                return unknown_arguments(extra, self._known, self.name)
        return describe_problem(error, self.parameters, self.name)

    def convert(self, values: dict[str, Any]) -> dict[str, Any]:
        """Checked `values` as the function gets them (whole numbers as `int` for integers)."""
        if self._convert is None:
            return values
        try:
            return dict(self._convert(values))
        except _validation.SchemaTooCostly as e:
            if not self.server:
                raise ToolArgumentsError(f"The arguments of {self.name} cannot be checked: {e}.") from None
            self._unchecked(str(e))
            return values
