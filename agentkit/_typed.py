"""Typed output, a run capability: the answer is asked for as a `final_result` call ("tool"
mode) or as JSON content ("json" mode), checked against `output_type`, and corrected by the
model up to `output_retries` times."""

from __future__ import annotations

from typing import Any

from ._capability import CallAnswer, Capability, Final, ModelRequest, RunState, TurnEnd
from ._events import ToolCall
from ._output import FINAL_RESULT, InvalidOutput
from .exceptions import UserError
from .tools import Tool

__all__ = ["TypedOutput"]


class TypedOutput(Capability):
    """One run's typed answer: the valid and invalid attempts of the current turn, the retries so far."""

    def __init__(self) -> None:
        self.retries = 0
        self.finals: dict[str, Any] = {}
        """Valid `final_result` values of the current turn, by call id."""
        self.invalid: list[str] = []
        """Problems of the current turn's invalid `final_result` calls."""

    async def run_started(self, run: RunState) -> None:
        run.text_answers = False
        if run.options.mode == "tool" and FINAL_RESULT in run.tools:
            raise UserError(f"a toolset has a tool named {FINAL_RESULT!r}, which the typed output needs")

    async def before_request(self, run: RunState, request: ModelRequest) -> None:
        options, spec = request.options, run.options.output
        if run.options.mode == "tool":
            options["tools"] = [*(options.get("tools") or ()), spec.tool_schema]
        elif "response_format" not in options and _takes(run.agent.model, "response_format"):
            options["response_format"] = spec.response_format

    async def before_call(self, run: RunState, call: ToolCall, tool: Tool[Any, Any] | None) -> CallAnswer | None:
        if run.options.mode != "tool" or call.name != FINAL_RESULT or tool is not None:
            return None
        spec = run.options.output
        try:
            self.finals[call.id] = spec.from_arguments(call.arguments)
        except InvalidOutput as e:
            self.invalid.extend(e.problems)
            text = spec.problems_text(e.problems)
            again = f"Call {FINAL_RESULT} again with this fixed."
            content = f"Error: invalid {FINAL_RESULT}:\n{text}\n{again}"
            return CallAnswer(content=content, error="invalid output: " + "; ".join(e.problems))
        return CallAnswer(content="Final result accepted.")

    async def after_turn(self, run: RunState, turn: TurnEnd) -> Final | None:
        finals, invalid, self.finals, self.invalid = self.finals, self.invalid, {}, []
        if finals:
            return Final(output=next(iter(finals.values())))
        options = run.options
        problems: list[str] | None = None
        if options.mode == "tool":
            problems = invalid or (None if turn.answers else [f"the answer was not given with the {FINAL_RESULT} tool"])
        elif not turn.answers:
            completion = turn.response.completion
            try:
                return Final(output=options.output.from_text(completion.content if completion else ""))
            except InvalidOutput as e:
                problems = e.problems
        if problems is None:
            return None
        self.retries += 1
        if self.retries > options.output_retries:
            raise options.output.invalid(options.output_retries, problems, run.messages)
        if not turn.answers:  # tell the model what was wrong
            run.messages.append(options.output.retry_message(options.mode, problems))  # type: ignore[arg-type]
        return None


def _takes(model: Any, option: str) -> bool:
    accepted = getattr(model, "options", None)
    return accepted is None or option in accepted
