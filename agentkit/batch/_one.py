"""One input's run, and the agent it runs on: shared by the local and the Ray backends."""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from typing import Any

from .._agent import Agent
from ..exceptions import UserError
from ..tools import Tool
from ._inputs import Item
from ._result import BatchResult, describe

__all__ = ["build_agent", "run_one"]


def build_agent(agent_or_factory: Any) -> Agent[Any]:
    """The agent itself, or the one a factory (a callable or a ``"module:function"``) builds.

    A ``"module:ATTR"`` that names an Agent (not a function) is that Agent: each process that
    imports the module (a Ray worker) gets its own.
    """
    if isinstance(agent_or_factory, Agent):
        return agent_or_factory
    factory = agent_or_factory
    named = repr(agent_or_factory)
    if isinstance(factory, str):
        from ..cli._spec import SpecError, load_object

        try:
            factory = load_object(factory)
        except SpecError as e:
            raise UserError(str(e)) from None
        if isinstance(factory, Agent):
            return factory
    if isinstance(factory, Tool):  # callable, but with the tool's arguments
        raise UserError(f"{named} is a tool, not an Agent or a function that returns one")
    if not callable(factory):
        raise UserError(f"give an Agent, a 'module:function' or a function that returns one, not {factory!r}")
    try:
        inspect.signature(factory).bind()
    except TypeError:
        needs = f"{named} needs arguments, but the function that builds the Agent is called with none"
        raise UserError(needs) from None
    except ValueError:  # a builtin without a signature: calling it says what is wrong
        pass
    agent = factory()
    if not isinstance(agent, Agent):
        raise UserError(f"{agent_or_factory!r} returned a {type(agent).__name__}, not an Agent")
    return agent


async def run_one(agent: Agent[Any], it: Item, run_options: Mapping[str, Any]) -> BatchResult:
    """One input's run; an exception becomes the result's `error` (retries are the model backend's)."""
    start = time.perf_counter()
    try:
        result = await agent.run(it.input, **{**run_options, **it.options})
    except Exception as e:
        return BatchResult(id=it.id, error=describe(e), seconds=time.perf_counter() - start)
    return BatchResult(id=it.id, output=result.output, messages=result.messages, usage=result.usage,
                       turns=result.turns, pending=result.pending, seconds=time.perf_counter() - start)  # fmt: skip
