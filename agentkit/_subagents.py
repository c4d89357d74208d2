"""An agent as another agent's tool: a call runs it as a new conversation that belongs to the
calling run (its usage, deps, cancellation, stream and approvals)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ._approvals import PENDING, SUBRUNS, last_assistant, to_decide
from ._capability import Hold, RunState
from ._context import RunContext
from ._events import ToolCall
from ._limits import UsageLimits
from ._messages import Message, Usage
from ._options import start
from ._result import SubAgentEvent
from ._turn import UNFINISHED
from .exceptions import RunError, ToolError
from .formats import new_call_id
from .tools import SchemaTool

__all__ = ["AgentTool", "agent_tool"]

MAX_DEPTH = 8
"""How deep sub-agents may nest (an agent that is its own tool would otherwise never end)."""

WAITING = "This call waits for the user's approval of the sub-agent's tool calls."
"""What the calling run's capabilities hear of a sub-run that stopped for approval (the model never does)."""


class AgentTool(SchemaTool):
    """`Agent.as_tool`: the agent, run on the call's ``input`` (see `agent_tool`)."""

    def __init__(self, agent: Any, name: str, description: str) -> None:
        parameters = {
            "type": "object",
            "properties": {"input": {"type": "string", "description": f"What to ask {agent.name}."}},
            "required": ["input"],
            "additionalProperties": False,
        }

        async def ask(input: str) -> Any:  # called directly, outside any run: a run of its own
            result = await agent.run(input)
            if result.pending:  # nobody here can decide: say so, rather than answer None
                calls = ", ".join(f"{c.name}({c.arguments})" for c in result.pending)
                raise ToolError(f"{agent.name} stopped: its calls {calls} wait for approval, which only a run can give")
            return result.output

        super().__init__(name=name, description=description, parameters=parameters, function=ask)
        self.agent = agent
        self.takes_context = True  # for the calling run, which `RunState.context` carries

    def __repr__(self) -> str:
        return f"AgentTool({self.name!r}, agent={self.agent.name!r})"

    async def acall(self, arguments: str | Mapping[str, Any] | None, context: RunContext[Any] | None = None) -> Any:
        question = self.validate(arguments)["input"]
        caller: RunState | None = context._run if context is not None else None
        if caller is None or context is None:
            return await self.function(question)
        return await _delegate(self.agent, question, caller, context)


def agent_tool(agent: Any, name: str | None, description: str | None) -> AgentTool:
    """`agent` as a tool named `name` (default: its name), described by `description` (default:
    its description, else a sentence naming it)."""
    text = description or agent.description or f"Ask the agent {agent.name!r}; it answers in text."
    return AgentTool(agent, name or agent.name, text)


async def _delegate(agent: Any, question: str, caller: RunState, context: RunContext[Any]) -> Any:
    depth, run = 1, caller
    while run.parent is not None:
        depth, run = depth + 1, run.parent
    if depth >= MAX_DEPTH:
        raise ToolError(f"sub-agents nest at most {MAX_DEPTH} deep: {agent.name} was not run")
    call = context.call
    overrides: dict[str, Any] = {"deps": caller.options.deps}
    limits = _left(caller.options.usage_limits, caller.usage, agent.usage_limits)
    if limits is not None:
        overrides["usage_limits"] = limits
    record = _waiting(caller.messages, call.id)
    if record is not None and record.get("agent") != agent.name:
        raise ToolError(f"the waiting sub-run of this call is {record.get('agent')!r}'s, not {agent.name!r}'s")
    if record is not None:  # the sub-run stopped for approval: it resumes where it stopped
        overrides["approvals"] = _decisions(record, caller.options.approvals or {})
    options = agent._options(overrides)
    if record is None:
        messages = start(question, options)
    else:  # its own system prompt, never one a transcript brings
        kept = [dict(m) for m in record["messages"] if m.get("role") != "system"]
        messages = [{"role": "system", "content": options.system}, *kept] if options.system else kept
    emit = None
    if caller.emit is not None:
        send = caller.emit

        async def emit(event: Any) -> None:
            await send(SubAgentEvent(agent=agent.name, call=call, event=event))

    children = len(caller.children)
    try:
        result = await agent._drive(messages, options, emit, parent=caller)
    except BaseException as e:
        sub = caller.children[children] if len(caller.children) > children else None
        done = _ran(e.messages if isinstance(e, RunError) else _so_far(sub))
        if done and caller.current is not None:  # its tools ran: a run that fails now keeps this call, saying so
            caller.current.touched[call.id] = f"; the sub-agent {agent.name} had run: {done}"
        if isinstance(e, RunError) and done:
            what = f"{type(e).__name__}: {e}"
            raise ToolError(f"{agent.name} failed ({what}) after these of its calls ran: {done}") from e
        raise
    if result.pending:
        kept = [m for m in result.messages if m.get("role") != "system"]  # the agent's own prompt is its own
        pending = _own_ids(kept, list(result.pending), caller)
        caller.holds[call.id] = Hold(calls=pending, record={"agent": agent.name, "messages": kept})
        return WAITING
    return result.output


def _so_far(run: RunState | None) -> list[Message]:
    """A sub-run's transcript as far as it got: its messages and the calls of its turn that finished."""
    if run is None:
        return []
    return [*run.messages, *(run.current.unfinished(run.messages) if run.current is not None else [])]


def _ran(messages: list[Message]) -> str:
    """The calls a sub-run's transcript shows answered (but not as unfinished), as the caller's
    model reads them ("" when none)."""
    calls = {c.get("id"): c.get("function") or {} for m in messages for c in m.get("tool_calls") or ()}
    done = [calls.get(m.get("tool_call_id"), {}) for m in messages
            if m.get("role") == "tool" and not str(m.get("content", "")).startswith(UNFINISHED)]  # fmt: skip
    return "; ".join(f"{f.get('name')}({f.get('arguments')})" for f in done)


def _own_ids(messages: list[Message], pending: list[ToolCall], caller: RunState) -> list[ToolCall]:
    """`pending` with fresh ids where one names a call of the caller's transcript or of another
    waiting sub-run (a server may number its calls per response: one decision must not decide
    two calls), renamed in the sub-run's waiting message too."""
    taken = {c.get("id") for m in caller.messages for c in m.get("tool_calls") or ()}
    taken |= {c.id for hold in caller.holds.values() for c in hold.calls}
    if caller.current is not None:  # the message being answered is not in the transcript yet
        taken |= {c.id for c in [*caller.current.calls, *caller.current.started]}
    renamed = {c.id: new_call_id() for c in pending if c.id in taken}
    if not renamed:
        return pending
    last = last_assistant(messages)
    last["tool_calls"] = [{**c, "id": renamed.get(c.get("id"), c.get("id"))} for c in last.get("tool_calls") or ()]
    if isinstance(last.get(PENDING), list):
        last[PENDING] = [renamed.get(i, i) for i in last[PENDING]]
    if isinstance(last.get(SUBRUNS), dict):
        last[SUBRUNS] = {renamed.get(k, k): v for k, v in last[SUBRUNS].items()}
    return [dataclasses.replace(c, id=renamed.get(c.id, c.id)) for c in pending]


def _waiting(messages: list[Message], call_id: str) -> dict[str, Any] | None:
    """The record of the sub-run of call `call_id` that stopped for approval, if the transcript's
    last assistant message holds one (the run resumes it)."""
    last = last_assistant(messages)
    subruns = last.get(SUBRUNS)
    record = subruns.get(call_id) if isinstance(subruns, dict) else None
    return record if isinstance(record, dict) and isinstance(record.get("messages"), list) else None


def _decisions(record: dict[str, Any], approvals: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's decisions that belong to the sub-run of `record`."""
    ids = {c.id for c in to_decide(record["messages"], {})}
    return {k: v for k, v in approvals.items() if k in ids}


def _left(limits: UsageLimits, used: Usage, own: UsageLimits | None) -> UsageLimits | None:
    """The sub-run's limits: what the caller has left of each of its bounds, or the sub-agent's
    own bound where that is lower (None when neither bounds anything)."""
    pairs = {
        "max_requests": used.requests,
        "max_tool_calls": used.tool_calls,
        "max_input_tokens": used.prompt_tokens,
        "max_output_tokens": used.completion_tokens,
        "max_total_tokens": used.total_tokens,
    }
    bounds: dict[str, int | None] = {}
    for name, spent in pairs.items():
        mine = getattr(limits, name)
        left = None if mine is None else max(mine - spent, 0)
        theirs = getattr(own, name) if own is not None else None
        bounds[name] = theirs if left is None else left if theirs is None else min(left, theirs)
    if all(v is None for v in bounds.values()):
        return None
    return dataclasses.replace(own or UsageLimits(), **bounds)
