"""Handoffs, a run capability: an agent offers ``transfer_to_<name>`` tools, and a call of one
hands the rest of the run, over the same transcript, to that agent."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

from ._capability import CallAnswer, Capability, Final, Hooks, ModelRequest, RunState, TurnEnd
from ._events import ToolCall
from ._messages import Message
from ._output import with_instruction
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
    """The name of the agent the transcript's last transfer handed the run to, if any."""
    for message in reversed(messages):
        if message.get("role") != "tool":
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
        self.claimed: str | None = None
        """The id of the current turn's transfer call that goes first (the others are not done)."""
        self.target: Any = None
        self.stack = AsyncExitStack()
        """The toolsets of the agents handed to, open until the run ends."""

    async def run_started(self, run: RunState) -> None:
        self.first, self.agents = run.agent, reachable(run.agent)
        run.tools = _with_transfers(run.tools, run.agent)
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
        if self.claimed is not None:  # transfer calls run one at a time, in order: the first goes
            return CallAnswer.not_run(f"the call {self.claimed} in the same message transferred the conversation")
        self.claimed = call.id
        return None

    async def after_call(self, run: RunState, call: ToolCall, answer: Any) -> None:
        tool = run.tools.get(call.name)
        if call.id == self.claimed and isinstance(tool, TransferTool) and answer.error is None:
            self.target = tool.target

    async def after_turn(self, run: RunState, turn: TurnEnd) -> Final | None:
        target, self.target = self.target, None
        if target is None:
            return None
        source = run.agent
        if self.claimed in turn.answers:
            turn.answers[self.claimed][HANDOFF] = {"source": source.name, "target": target.name}
        await self._switch(run, target)
        if run.emit is not None:
            await run.emit(Handoff(source=source.name, target=target.name))
        return None

    async def _switch(self, run: RunState, target: Any) -> None:
        """The run goes on with `target`: its model, system, tools, handoffs and options; the
        run's own settings (deps, limits, turns, session, decisions) stay."""
        o = run.options
        accepted = getattr(target.model, "options", None)
        model_options = {k: v for k, v in o.model_options.items() if accepted is None or k in accepted}
        options = target._options({"deps": o.deps, "session": o.session})
        run.agent, run.options = target, dataclasses.replace(
            options, max_turns=o.max_turns, usage_limits=o.usage_limits, approvals=o.approvals,
            model_options=model_options,
        )  # fmt: skip
        tools = await open_tools(target.tools, target.toolsets, self.stack) if target.toolsets else dict(target.tools)
        run.tools = _with_transfers(tools, target)
        run.hooks = self.rebuild(run, run.hooks)
        run.text_answers = True
        for c in run.hooks.agents:
            await c.run_started(run)
        if any(t.requires_approval for t in run.tools.values()):
            run.early = False
        run.early = run.early and run.hooks.early

    async def run_finished(self, run: RunState, result: RunResult[Any]) -> None:
        await self.stack.aclose()

    async def run_failed(self, run: RunState, error: BaseException) -> None:
        await self.stack.aclose()


def _with_transfers(tools: dict[str, Tool[Any, Any]], agent: Any) -> dict[str, Tool[Any, Any]]:
    """`tools` and `agent`'s transfer tools (`UserError` when a toolset has a tool of that name)."""
    out = dict(tools)
    for transfer in map(TransferTool, agent.handoffs):
        if transfer.name in out:
            target = transfer.target.name
            raise UserError(f"a tool is named {transfer.name!r}, the name of {agent.name!r}'s handoff to {target!r}")
        out[transfer.name] = transfer
    return out
