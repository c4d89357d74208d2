"""Approvals, a run capability: the `approve` hook decides each call; a tool that needs approval
stops the run before its message's calls run; the caller's decisions answer them on resume."""

from __future__ import annotations

from typing import Any

from ._approvals import PENDING, SUBRUNS, Decision, decided, last_assistant, needing_approval
from ._capability import CallAnswer, Capability, Final, ModelRequest, ModelResponse, RunState, TurnEnd
from ._events import ToolCall
from ._tool_runner import judge
from .exceptions import ApprovalError, UserError
from .tools import Tool

__all__ = ["Approvals"]


class Approvals(Capability):
    """One run's approvals: the decisions it resumes with."""

    early_dispatch = True  # it turns early dispatch off itself, when a tool needs approval

    def __init__(self) -> None:
        self.decisions: dict[str, Decision] = {}
        self.resumed = False

    async def run_started(self, run: RunState) -> None:
        if any(t.requires_approval for t in run.tools.values()):
            run.early = False  # a message's calls wait for the whole message: one of them may stop the run

    async def before_request(self, run: RunState, request: ModelRequest) -> None:
        if not self.resumed and run.options.approvals:
            raise UserError("approvals were given, but no call in the conversation is waiting for one")
        self.resumed = True  # checked once

    async def after_response(self, run: RunState, response: ModelResponse) -> None:
        if response.resumed:  # the caller's decisions on the waiting calls, before any of them runs
            self.decisions, self.resumed = decided(run.messages, run.tools, run.options.approvals), True
        else:
            response.pending += [c for c in needing_approval(response.calls, run.tools) if c not in response.pending]

    async def before_call(self, run: RunState, call: ToolCall, tool: Tool[Any, Any] | None) -> CallAnswer | None:
        options = run.options
        if tool is None or (options.approve is None and call.id not in self.decisions):
            return None
        timeout = options.tool_timeout if options.approval_timeout is None else options.approval_timeout
        outcome = await judge(call, options.approve, timeout, self.decisions.get(call.id))
        if outcome is None:
            return None
        fail = None
        if (cause := outcome.hook_failure) is not None:  # the run fails once the turn's calls are answered
            fail = ApprovalError(
                f"the approval hook failed on call {call.id} ({call.name}): {type(cause).__name__}: {cause}"
            )
            fail.__cause__ = cause
        return CallAnswer(content=outcome.content, error=outcome.error, fail=fail)

    async def after_turn(self, run: RunState, turn: TurnEnd) -> Final | None:
        if turn.response.resumed:  # its calls are answered: the marks that resumed them are spent
            last = last_assistant(run.messages)
            if last.get(SUBRUNS):
                last.pop(SUBRUNS, None)
                last.pop(PENDING, None)
        return None
