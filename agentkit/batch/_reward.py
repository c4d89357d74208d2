"""``run_many(..., reward=fn)``: each finished run scored, sync or async; a reward that fails loses no run."""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable
from numbers import Real
from typing import Any

from ..exceptions import UserError
from ._result import BatchResult, describe

Reward = Callable[[BatchResult], "float | Awaitable[float]"]
"""A reward function: a run's result in, a number out (or an awaitable of one)."""


def load_reward(reward: Any) -> Reward | None:
    """The reward function itself, or the one a ``"module:function"`` names; a UserError for anything else."""
    if reward is None:
        return None
    if isinstance(reward, str):
        from ..cli._spec import SpecError, load_object

        try:
            reward = load_object(reward)
        except SpecError as e:
            raise UserError(str(e)) from None
    if not callable(reward):
        raise UserError(f"reward must be a function of a BatchResult (or a 'module:function'), not {reward!r}")
    return reward  # type: ignore[no-any-return]


async def score(reward: Reward, result: BatchResult) -> None:
    """Set `result.reward` (and its trajectory's) from `reward`. A run that failed or waits for
    approval is not scored; a reward that raises or returns no finite number leaves the run's
    output as it is, with `reward` None and an `error` that says so."""
    if result.error is not None or result.pending:
        return
    try:
        value: Any = reward(result)
        if inspect.isawaitable(value):
            value = await value
    except Exception as e:
        result.error = f"RewardError: the reward failed: {describe(e)}"
        return
    if not isinstance(value, Real) or not math.isfinite(value):  # a bool counts: True is 1.0
        # NaN or infinity in one sample would poison a whole group's advantage.
        shown = f"{value!r}" if isinstance(value, Real) else f"a {type(value).__name__}"
        result.error = f"RewardError: the reward returned {shown}, not a finite number"
        return
    result.reward = float(value)
    if result.trajectory is not None:
        result.trajectory.reward = result.reward
