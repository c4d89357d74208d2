"""Handoffs, a run capability: an agent offers ``transfer_to_<name>`` tools, and a call of one
hands the rest of the run, over the same transcript, to that agent."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any

from ._approvals import last_assistant, unanswered
from ._capability import CallAnswer, Capability, Final, Hooks, ModelRequest, RunState, TurnEnd
from ._events import ToolCall
from ._messages import Message
from ._order import WAITS
from ._output import FINAL_RESULT, with_instruction
from ._result import Handoff, RunResult
from ._toolsets import open_tools
from .exceptions import UserError
from .tools import SchemaTool, Tool

__all__ = ["HANDOFF", "Handoffs", "TransferTool", "check_handoffs", "check_identity", "last_transfer"]


PREFIX = "transfer_to_"
HANDOFF = "agentkit_handoff"
"""On the tool message that answers a transfer: the names of the agents (``{"source", "target"}``)."""
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,52}")  # 52: "transfer_to_" + the name is a valid tool name


def check_identity(name: str, description: str | None) -> tuple[str, str | None]:
    """`Agent`'s name and description, checked (`UserError`)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UserError(f"an agent's name is 1 to 52 letters, digits, _ or -, not {name!r}")
    if description is not None and not isinstance(description, str):
        raise UserError(f"an agent's description is a str, not {type(description).__name__}")
    return name, description


def check_handoffs(agent: Any, handoffs: Sequence[Any]) -> list[Any]:
    """`agent`'s handoff targets, checked: agents, with distinct names, and no tool of its own
    named like a transfer tool."""
    if isinstance(handoffs, (str, bytes)) or not isinstance(handoffs, Sequence):
        raise UserError(f"handoffs must be a list of Agent, not {handoffs!r}")
    names: set[str] = set()
    for target in handoffs:
        if not callable(getattr(target, "as_tool", None)):
            raise UserError(f"handoffs must be Agent objects, not {target!r}")
        if target.name in names:
            raise UserError(f"two handoff targets are named {target.name!r}: give each agent its own name")
        names.add(target.name)
        if PREFIX + target.name in agent.tools:
            raise UserError(f"a tool is named {PREFIX + target.name!r}, the name of the handoff to {target.name!r}")
    return list(handoffs)


def transferred(target: str) -> str:
    """The answer to the transfer call that hands the run to `target`."""
    return f"Transferred to {target}: it goes on from here."


class TransferTool(SchemaTool):
    """``transfer_to_<name>``: answered as done by the first such call of a message (`Handoffs`)."""

    def __init__(self, target: Any) -> None:
        text = transferred(target.name)
        description = target.description or f"Hand the conversation over to the agent {target.name!r}."
        # Any arguments are accepted: a model may pass a reason, which changes nothing.
        super().__init__(name=PREFIX + target.name, description=description, parameters={"type": "object"},
                         function=lambda **_: text, sequential=True)  # fmt: skip
        self.target = target


def reachable(first: Any) -> dict[str, Any]:
    """Every agent `first` can hand the run to, by name, itself included (`UserError` when two
    different agents share a name: a transcript could not say which one has the run)."""
    found, todo = {first.name: first}, [first]
    while todo:
        for target in todo.pop().handoffs:
            known = found.get(target.name)
            if known is None:
                found[target.name] = target
                todo.append(target)
            elif known is not target:
                raise UserError(f"two different agents are named {target.name!r} among {first.name!r}'s handoffs")
    return found


def last_transfer(messages: list[Message]) -> str | None:
    """The name of the agent the transcript's last transfer handed the run to, if any. A transfer
    in a message whose other calls still wait (for approval) has not happened yet."""
    waiting = {c.id for c in unanswered(messages)}
    held = last_assistant(messages) if waiting else {}
    held_ids = {c.get("id") for c in held.get("tool_calls") or ()}
    for message in reversed(messages):
        if message.get("role") != "tool" or message.get("tool_call_id") in held_ids:
            continue
        mark = message.get(HANDOFF)
        target = mark.get("target") if isinstance(mark, dict) else None
        if isinstance(target, str):
            return target
        name = message.get("name")  # a transcript that lost agentkit's keys: the answer says it
        target = name[len(PREFIX) :] if isinstance(name, str) and name.startswith(PREFIX) else None
        if target is not None and message.get("content") == transferred(target):
            return target
    return None


class Handoffs(Capability):
    """One run's handoffs: which agent has the run, and the transfer of the current turn."""

    early_dispatch = True  # it never sets `pending`

    def __init__(self, rebuild: Callable[[RunState, Hooks], Hooks]) -> None:
        self.rebuild = rebuild
        self.first: Any = None
        self.agents: dict[str, Any] = {}
        self.opened: dict[int, dict[str, Tool[Any, Any]]] = {}
        """Each agent's tools once its toolsets are open (by `id` of the agent): opened once per run."""
        self.claimed: str | None = None
        """The id of the current turn's transfer call that was made (the later ones are not done)."""
        self.target: Any = None
        self.retired: list[Capability] = []
        """The capabilities of agents that handed off: they are told when the run ends."""

    async def run_started(self, run: RunState) -> None:
        self.first, self.agents = run.agent, reachable(run.agent)
        self.opened[id(run.agent)] = dict(run.tools)
        run.tools = self._with_transfers(run.tools, run.agent)
        name = last_transfer(run.messages)  # a resumed conversation goes on with the agent that had it
        if name is not None and name in self.agents and self.agents[name] is not run.agent:
            await self._switch(run, self.agents[name])

    async def before_request(self, run: RunState, request: ModelRequest) -> None:
        self.claimed = None
        if run.agent is self.first:
            return
        messages, system = request.messages, run.agent.system
        if messages and messages[0].get("role") == "system":
            del messages[0]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        if run.options.mode == "json":
            with_instruction(messages, run.options.output.instruction)

    async def before_call(self, run: RunState, call: ToolCall, tool: Tool[Any, Any] | None) -> CallAnswer | None:
        if not isinstance(tool, TransferTool):
            return None
        # Transfer calls run one at a time, in order, each after the calls before it (`sequential`).
        if self.claimed is not None:
            return CallAnswer.not_run(f"the call {self.claimed} in the same message transferred the conversation")
        if run.holds:  # the run stops for approval: this agent must be the one that resumes
            return CallAnswer.not_run(WAITS)
        calls = run.current.calls if run.current is not None else []
        if run.options.mode == "tool" and any(c.name == FINAL_RESULT for c in calls):
            return CallAnswer.not_run(f"the same message gives the final answer ({FINAL_RESULT})")
        return None

    async def after_call(self, run: RunState, call: ToolCall, answer: Any) -> None:
        tool = run.tools.get(call.name)
        if isinstance(tool, TransferTool) and answer.error is None and self.claimed is None:
            self.claimed, self.target = call.id, tool.target

    async def after_turn(self, run: RunState, turn: TurnEnd) -> Final | None:
        target, self.target = self.target, None
        response = turn.response
        if target is None and response.resumed:  # a transfer made before the run stopped for approval
            name = last_transfer(run.messages)
            target = self.agents.get(name) if name is not None else None
        if target is None or target is run.agent:
            return None
        if any(c.name == FINAL_RESULT for c in response.calls) and run.options.mode == "tool":
            return None  # the message gives the run's typed answer: that ends it, here
        source = run.agent
        if self.claimed in turn.answers:
            turn.answers[self.claimed][HANDOFF] = {"source": source.name, "target": target.name}
        await self._switch(run, target)
        if run.emit is not None:
            await run.emit(Handoff(source=source.name, target=target.name))
        return None

    async def _switch(self, run: RunState, target: Any) -> None:
        """The run goes on with `target`: its model, system, tools, handoffs and options; the
        run's own settings (deps, limits, turns, session, decisions, the options given to the
        run) stay."""
        o = run.options
        accepted = getattr(target.model, "options", None)
        model_options = {k: v for k, v in o.model_options.items() if accepted is None or k in accepted}
        given = {k: getattr(o, k) for k in _CARRIED & o.overridden}
        options = target._options({"deps": o.deps, "session": o.session, **given})
        run.agent, run.options = target, dataclasses.replace(
            options, max_turns=o.max_turns, usage_limits=o.usage_limits, approvals=o.approvals,
            model_options=model_options, overridden=o.overridden, record=o.record,
        )  # fmt: skip
        if id(target) not in self.opened:
            tools = dict(target.tools)
            if target.toolsets:
                assert run.stack is not None  # the run's: its connections close with the first agent's
                tools = await open_tools(target.tools, target.toolsets, run.stack)
            self.opened[id(target)] = tools
        run.tools = self._with_transfers(self.opened[id(target)], target)
        self.retired += [c for c in run.hooks.agents if c not in self.retired]
        run.hooks = self.rebuild(run, run.hooks)
        run.text_answers = True
        for c in run.hooks.agents:
            await c.run_started(run)
        if any(t.requires_approval for t in run.tools.values()):
            run.early = False
        run.early = run.early and run.hooks.early

    def _with_transfers(self, tools: dict[str, Tool[Any, Any]], agent: Any) -> dict[str, Tool[Any, Any]]:
        """`tools` and `agent`'s transfer tools (`UserError` when a tool, a toolset's included, is
        named like a transfer to any agent of the run: its answer could pass for a transfer)."""
        taken = sorted(n for n in tools if n.startswith(PREFIX) and n[len(PREFIX) :] in self.agents)
        if taken:
            raise UserError(f"a tool of {agent.name!r} is named {taken[0]!r}, the name of the handoff to "
                            f"{taken[0][len(PREFIX) :]!r}: rename it")  # fmt: skip
        return {**tools, **{t.name: t for t in map(TransferTool, agent.handoffs)}}

    async def run_finished(self, run: RunState, result: RunResult[Any]) -> None:
        for c in self.retired:
            await c.run_finished(run, result)

    async def run_failed(self, run: RunState, error: BaseException) -> None:
        for c in self.retired:
            await c.run_failed(run, error)


_CARRIED = frozenset({"approve", "approval_timeout", "tool_timeout", "max_tool_output", "parallel_tools"})
"""Agent options a run may give that hold for every agent it is handed to (a policy, a bound)."""
