"""Structured output of a served tool: a tool whose return type is a pydantic model, a dataclass
or a TypedDict is listed with an ``outputSchema`` (that type's JSON Schema) and its results carry
``structuredContent`` (the value as JSON), as MCP asks."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

import pydantic
from typing_extensions import is_typeddict

from ..tools import Tool
from ._content import Audio, EmbeddedResource, Image

__all__ = ["Structured", "structured_output"]


class Structured:
    """A served tool's output type: its schema, and the JSON of a value of it."""

    def __init__(self, tool_name: str, output_type: Any) -> None:
        self.tool_name = tool_name
        self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(output_type)
        self.schema: dict[str, Any] = self.adapter.json_schema()
        self.type_name = getattr(output_type, "__name__", repr(output_type))

    def dump(self, value: Any) -> tuple[dict[str, Any], str]:
        """`value` as ``structuredContent`` and as its JSON text. Raises ValueError for a value
        that is not of the declared type (the client would refuse it against the schema)."""
        try:
            checked = self.adapter.validate_python(value, strict=not isinstance(value, dict))
            data = self.adapter.dump_python(checked, mode="json")
        except pydantic.ValidationError as e:
            raise ValueError(
                f"the tool {self.tool_name} returned {type(value).__name__}, not the {self.type_name} it declares "
                f"({e.error_count()} problem(s): {e.errors()[0]['msg']})"
            ) from None
        return data, json.dumps(data, ensure_ascii=False)


def structured_output(tool: Tool[Any, Any]) -> Structured | None:
    """The output type of `tool` when its function declares one MCP can describe (a pydantic
    model, a dataclass, a TypedDict), else None: its results are then text alone."""
    try:
        hints = typing.get_type_hints(tool.function)
    except Exception:  # a return hint that cannot be resolved describes nothing
        return None
    returned = hints.get("return")
    if not isinstance(returned, type) or issubclass(returned, (Image, Audio, EmbeddedResource)):
        return None  # content blocks, not data
    if issubclass(returned, pydantic.BaseModel) or dataclasses.is_dataclass(returned) or is_typeddict(returned):
        return Structured(tool.name, returned)
    return None
