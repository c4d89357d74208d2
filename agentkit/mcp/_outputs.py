"""Checking an MCP tool's structured result against its output schema, safely.

The SDK's client checks every structured result against the tool's listed `outputSchema` with
jsonschema's stock validator, which matches `pattern` with Python's `re`: a server's catastrophic
pattern would then stall the event loop (a backtracking `re` holds the GIL; no timeout can fire).
agentkit gives the client its own validator instead: RE2 patterns, references that never fetch.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import _validation

__all__ = ["check_outputs_safely"]

logger = logging.getLogger("agentkit")
_ANYTHING = _validation.validator(True, own=True)


def check_outputs_safely(session: Any) -> None:
    """Make `session` (the SDK's `ClientSession`) build its output-schema validators with
    `agentkit._validation`; a schema that cannot be checked that way checks nothing (the
    result is still the server's own, as for input schemas)."""
    built: dict[str, tuple[Any, Any]] = {}

    def output_schema_validator(name: str, schema: dict[str, Any]) -> Any:
        hit = built.get(name)
        if hit is not None and hit[0] is schema:  # a new listing brings a new schema object
            return hit[1]
        try:
            checker = _validation.validator(schema, lenient=True)
        except _validation.SchemaProblem as e:
            logger.warning("the output schema of the MCP tool %r is not checked: %s", name, e)
            checker = _ANYTHING
        built[name] = (schema, checker)
        return checker

    # The SDK's own builder (a private method, mcp<3) is the one place its checks get a validator.
    session._output_schema_validator = output_schema_validator
