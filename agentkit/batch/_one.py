"""One input's run, and the agent it runs on: shared by the local and the Ray backends."""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from collections.abc import Mapping
from typing import Any

from .._agent import Agent
from .._recording import can_record
from ..exceptions import UserError
from ..tools import Tool
from ._inputs import Item
from ._result import BatchResult, describe

__all__ = ["build_agent", "check_options", "run_one", "sample_seed"]


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


def check_options(agent: Agent[Any], options: Mapping[str, Any]) -> None:
    """A UserError before any run: an option the agent does not take, or ``record=True`` on a model
    that cannot record (every run would fail alike)."""
    agent._options(dict(options))
    if options.get("record") is True and not can_record(agent.model):
        raise UserError(f"record=True: {type(agent.model).__name__} cannot record token ids and logprobs; "
                        "LocalModel and RemoteModel(..., tokenizer=...) can")  # fmt: skip


def sample_seed(seed: int, key: str, sample: int) -> int:
    """The seed of one sample of a group: derived from the batch's `seed`, the input's `key` and the
    `sample`. One seed for a whole group would sample the same run n times; ``seed + sample`` would
    make the groups of seed 7 and seed 8 share all but one run. 31 bits: every backend takes it."""
    digest = hashlib.sha256(json.dumps([seed, key, sample]).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


async def run_one(agent: Agent[Any], it: Item, run_options: Mapping[str, Any]) -> BatchResult:
    """One input's run; an exception becomes the result's `error` (retries are the model backend's).
    In a group, a ``seed=`` option becomes `sample_seed` of it."""
    start = time.perf_counter()
    options = {**run_options, **it.options}
    seed = options.get("seed")
    if it.sample is not None and isinstance(seed, int) and not isinstance(seed, bool):
        options["seed"] = sample_seed(seed, it.key, it.sample)
    try:
        result = await agent.run(it.input, **options)
    except Exception as e:
        # A recorded run that failed (a limit, say) keeps its tokens, and the transcript they spell.
        trajectory = getattr(e, "trajectory", None)
        messages = list(getattr(e, "messages", None) or ()) if trajectory is not None else []
        return BatchResult(id=it.id, error=describe(e), seconds=time.perf_counter() - start, trajectory=trajectory,
                           messages=messages)  # fmt: skip
    return BatchResult(id=it.id, output=result.output, messages=result.messages, usage=result.usage,
                       turns=result.turns, pending=result.pending, seconds=time.perf_counter() - start,
                       trajectory=result.trajectory)  # fmt: skip
