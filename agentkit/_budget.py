"""Usage limits, a run capability: a model call past `max_requests` is not made, a tool call
past `max_tool_calls` does not run, a response past a token bound runs none of its calls."""

from __future__ import annotations

from typing import Any

from ._capability import CallAnswer, Capability, ModelRequest, ModelResponse, RunState
from ._events import ToolCall
from ._limits import UsageLimits
from .exceptions import UsageLimitExceeded
from .tools import Tool

__all__ = ["Budget"]

_REFUSED = "the run's limit on tool calls was reached"


class Budget(Capability):
    """One run's usage limits, and the tool calls it has let run."""

    early_dispatch = True  # with a token bound it turns early dispatch off itself

    def __init__(self, limits: UsageLimits) -> None:
        self.limits = limits
        self.permitted = 0

    async def run_started(self, run: RunState) -> None:
        if self.limits.limits_tokens:
            run.early = False  # a response over a token bound runs none of its calls

    async def before_request(self, run: RunState, request: ModelRequest) -> None:
        self.limits.check_request(run.usage, run.messages)
        over = self.limits.token_problem(run.usage)  # a sub-run's tokens may have taken it past a bound
        if over is not None:
            raise UsageLimitExceeded(over, usage=run.usage, messages=list(run.messages))
        caller = run.parent
        while caller is not None:  # the callers' limits, on their live totals: sibling sub-runs count too
            caller.options.usage_limits.check_request(caller.usage, run.messages)
            over = caller.options.usage_limits.token_problem(caller.usage)
            if over is not None:
                raise UsageLimitExceeded(over, usage=caller.usage, messages=list(run.messages))
            caller = caller.parent

    async def after_response(self, run: RunState, response: ModelResponse) -> None:
        over = None if response.resumed else self.limits.token_problem(run.usage)
        if over is not None:
            raise UsageLimitExceeded(over, usage=run.usage)

    async def before_call(self, run: RunState, call: ToolCall, tool: Tool[Any, Any] | None) -> CallAnswer | None:
        # No await between the check and the count: concurrent calls cannot both take the last one.
        if tool is None:
            return None
        bound = self.limits.max_tool_calls
        # Sub-runs' calls count too; past the bound, the run stops once the turn's calls are answered.
        if bound is not None and self.permitted + run.delegated.tool_calls >= bound:
            fail = UsageLimitExceeded(f"max_tool_calls={bound} reached", usage=run.usage)
            return CallAnswer(content=f"Error: this call was not run: {_REFUSED}.", error=_REFUSED, fail=fail)
        caller = run.parent
        while caller is not None:  # a caller's bound on its live total (its other sub-runs' calls too)
            if not caller.options.usage_limits.tool_call_allowed(caller.usage):
                fail = UsageLimitExceeded(f"max_tool_calls={caller.options.usage_limits.max_tool_calls} reached",
                                          usage=caller.usage)  # fmt: skip
                return CallAnswer(content=f"Error: this call was not run: {_REFUSED}.", error=_REFUSED, fail=fail)
            caller = caller.parent
        self.permitted += 1
        return None
