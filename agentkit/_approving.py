"""Approvals, a run capability: the `approve` hook decides each call; a tool that needs approval
stops the run before its message's calls run; the caller's decisions answer them on resume."""

from __future__ import annotations

from typing import Any

from ._approvals import Decision, decided, needing_approval, open_calls, unanswered
from ._capability import CallAnswer, Capability, ModelResponse, RunState
from ._events import ToolCall
from ._tool_runner import judge
from .exceptions import ApprovalError, UserError
from .tools import Tool

__all__ = ["Approvals"]


class Approvals(Capability):
    """One run's approvals: the decisions it resumes with, and the calls whose hook failed."""

    def __init__(self) -> None:
        self.decisions: dict[str, Decision] = {}

    async def run_started(self, run: RunState) -> None:
        waiting = unanswered(run.messages)
        stuck = sorted(set(open_calls(run.messages)) - {c.id for c in waiting})
        if stuck:
            # A new message after calls that never got an answer: no server takes that.
            raise UserError(
                f"the conversation has tool calls without answers ({', '.join(stuck)}): resume the run that "
                "stopped for approval (its messages and approvals=) before adding a new message"
            )
        if waiting:
            self.decisions = decided(waiting, run.tools, run.options.approvals)
        elif run.options.approvals:
            raise UserError("approvals were given, but no call in the conversation is waiting for one")
        if any(t.requires_approval for t in run.tools.values()):
            run.early = False  # a message's calls wait for the whole message: one of them may stop the run

    async def after_response(self, run: RunState, response: ModelResponse) -> None:
        if not response.resumed:
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
