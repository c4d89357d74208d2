# mypy: warn-unused-ignores
"""Checked by mypy (tests/test_typing.py), not run: what a type checker knows of typed results."""

import dataclasses

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
    # Under --strict an unneeded ignore is an error: this line fails the check unless mypy
    # knows that the output is an int (and so that the assertion below is wrong).
    assert_type(Agent(model, output_type=int).run_sync("x").output, str)  # type: ignore[assert-type]
