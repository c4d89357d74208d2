"""Typed results: the schema of `output_type`, how the model is asked for it, and its checks."""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeAlias

from . import _schema, _validation
from ._marks import inserted
from ._model import Message
from ._problems import conversion_problems, describe_problem
from .exceptions import OutputValidationError, UserError
from .tools import member_test

__all__ = ["FINAL_RESULT", "OutputMode", "OutputSpec"]

OutputMode: TypeAlias = Literal["tool", "json", "auto"]
"""How a typed result is asked for: a `final_result` tool call, JSON content, or per backend."""

FINAL_RESULT = "final_result"
"""The name of the tool that carries a typed result in ``"tool"`` mode."""

# A model often fences JSON in markdown even when told not to; the fence is not the answer.
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


class InvalidOutput(Exception):
    """The model's output does not fit the output type; `problems` says why, for the model."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class OutputSpec:
    """What `output_type` asks of the model, and how its answer becomes a value of that type.

    An object type (pydantic model, dataclass, TypedDict) is the result's schema as is; any
    other type is wrapped as ``{"result": T}``, the same in both modes.
    """

    def __init__(self, output_type: Any) -> None:
        self.type = output_type
        self.text = output_type is str
        if self.text:
            return
        try:
            schema = _schema.type_schema(output_type)
            self._convert = _schema.converter(output_type, member_test)
        except _schema.UnsupportedType as e:
            raise UserError(f"output_type {output_type!r} cannot be described as JSON: {e}") from None
        except _validation.SchemaProblem as e:
            raise UserError(f"output_type {output_type!r}: {e}") from None
        self.wrapped = not _schema._is_object_class(output_type)
        self.parameters: dict[str, Any] = (
            {"type": "object", "properties": {"result": schema}, "required": ["result"]} if self.wrapped else schema
        )
        try:
            self._validator = _validation.validator(_schema.strict(self.parameters), own=True)
        except _validation.SchemaProblem as e:  # a Field(pattern=...) that RE2 cannot compile
            raise UserError(f"output_type {output_type!r}: {e}") from None

    # --- asking -----------------------------------------------------------------------------

    @property
    def tool_schema(self) -> dict[str, Any]:
        """The OpenAI tools entry of `final_result` (``"tool"`` mode)."""
        return {
            "type": "function",
            "function": {
                "name": FINAL_RESULT,
                "description": "Give the final answer. Call this once you have everything you need.",
                "parameters": self.parameters,
            },
        }

    @property
    def response_format(self) -> dict[str, Any]:
        """The OpenAI ``response_format`` that constrains the content to the schema (``"json"`` mode)."""
        return {
            "type": "json_schema",
            "json_schema": {"name": FINAL_RESULT, "schema": _schema.strict(self.parameters), "strict": True},
        }

    @property
    def instruction(self) -> str:
        """What the system message says in ``"json"`` mode, so that any model knows the schema."""
        return "Answer with only a JSON object that matches this JSON schema:\n" + json.dumps(
            self.parameters, ensure_ascii=False
        )

    # --- checking ---------------------------------------------------------------------------

    def from_arguments(self, arguments: str | dict[str, Any]) -> Any:
        """The value of a `final_result` call's arguments. Raises `InvalidOutput`."""
        if isinstance(arguments, str):
            return self.from_text(arguments)
        return self._value(arguments)

    def from_text(self, text: str) -> Any:
        """The value of JSON content (a markdown fence around it is ignored). Raises `InvalidOutput`."""
        fenced = _FENCE.match(text)
        try:
            data = json.loads(fenced.group(1) if fenced else text)
        except json.JSONDecodeError as e:
            raise InvalidOutput([f"the output is not valid JSON ({e.msg} at position {e.pos})"]) from None
        return self._value(data)

    def _value(self, data: Any) -> Any:
        try:
            problems = [describe_problem(e, self.parameters, FINAL_RESULT) for e in self._validator.iter_errors(data)]
        except _validation.SchemaTooCostly as e:  # refused, not let through unchecked
            raise InvalidOutput([f"the output cannot be checked: {e}"]) from None
        if not problems:
            try:
                value = self._convert(data["result"] if self.wrapped else data)
            except Exception as e:  # a pydantic validator or an impossible date
                problems.extend(conversion_problems(e, "result" if self.wrapped else ""))
            else:
                return value
        raise InvalidOutput(problems)

    # --- telling the model ------------------------------------------------------------------

    @staticmethod
    def problems_text(problems: list[str]) -> str:
        return "\n".join(f"- {p}" for p in problems)

    def invalid(self, retries: int, problems: list[str], messages: list[Message]) -> OutputValidationError:
        """The error of a run whose output stayed invalid after `retries` corrections."""
        name = getattr(self.type, "__name__", None) or repr(self.type)
        return OutputValidationError(
            f"the output is not a valid {name} after {retries} retries: {'; '.join(problems)}",
            problems=problems,
            messages=list(messages),
        )

    def retry_message(self, mode: Literal["tool", "json"], problems: list[str]) -> Message:
        """The user message after a final answer that is not the required output (the run's
        own: it starts no turn)."""
        if mode == "tool":
            text = f"Your answer was not given with the {FINAL_RESULT} tool. Call {FINAL_RESULT} with the answer."
        else:
            text = (f"Your answer is not valid:\n{self.problems_text(problems)}\n"
                    "Answer again with only the JSON object.")  # fmt: skip
        return inserted({"role": "user", "content": text}, "output_retry")


def with_instruction(messages: list[Message], instruction: str) -> None:
    """Put `instruction` in the conversation's system message (once), creating one if needed."""
    if messages and messages[0].get("role") == "system":
        content = messages[0].get("content") or ""
        if isinstance(content, list):  # content parts
            if not any(isinstance(p, dict) and p.get("text") == instruction for p in content):
                messages[0] = {**messages[0], "content": [*content, {"type": "text", "text": instruction}]}
        elif instruction not in content:
            messages[0] = {**messages[0], "content": f"{content}\n\n{instruction}" if content else instruction}
    else:
        messages.insert(0, {"role": "system", "content": instruction})
