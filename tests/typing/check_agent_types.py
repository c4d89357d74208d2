# mypy: warn-unused-ignores
"""Checked by mypy (tests/test_typing.py), not run: what a type checker knows of typed results."""

import dataclasses
from typing import Any, Literal

import pydantic
from typing_extensions import assert_type

from agentkit import Agent, RunContext, RunResult, tool
from agentkit.testing import ScriptedModel


class Weather(pydantic.BaseModel):
    city: str


@dataclasses.dataclass
class Deps:
    user: str


@tool
def whoami(ctx: RunContext[Deps]) -> str:
    """Who."""
    assert_type(ctx.deps, Deps)
    return ctx.deps.user


def check() -> None:
    model = ScriptedModel(["x"])
    assert_type(Agent(model).run_sync("x"), RunResult[str])
    assert_type(Agent(model).run_sync("x").output, str)
    assert_type(Agent(model, output_type=Weather).run_sync("x").output, Weather)
    assert_type(Agent(model, output_type=list[int]).run_sync("x").output, list[int])
    assert_type(Agent(model, [whoami], deps_type=Deps, output_type=int).run_sync("x", deps=Deps("a")).output, int)
    # A special form is not a `type`: accepted, as an Agent[Any].
    assert_type(Agent(model, output_type=Literal["yes", "no"]).run_sync("x").output, Any)
    assert_type(Agent(model, output_type=Weather | Deps).run_sync("x").output, Any)
    assert_type(Agent(model, system="Be brief.", max_turns=3).run_sync("x").output, str)
    # Under --strict an unneeded ignore is an error: this line fails the check unless mypy
    # knows that the output is an int (and so that the assertion below is wrong).
    assert_type(Agent(model, output_type=int).run_sync("x").output, str)  # type: ignore[assert-type]
    Agent(model, max_turn=3)  # type: ignore[call-overload]  # a misspelt option is caught
