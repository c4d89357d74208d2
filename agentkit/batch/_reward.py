"""``run_many(..., reward=fn)``: each finished run scored, sync or async; a reward that fails loses no run."""

from __future__ import annotations

import inspect
import math
import reprlib
from collections.abc import Awaitable, Callable
from numbers import Real
from typing import Any

import anyio

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


REWARD_TIMEOUT = 600.0
"""The default ``reward_timeout`` of `run_many`, in seconds: a judge that never answers does not hang the batch."""

REWARD_STOPPED = "RewardError: the batch stopped before the reward returned"
"""The `error` of a run written while its reward ran when the batch stopped; a resume with a reward scores it."""


def check_timeout(timeout: Any) -> float | None:
    """`timeout` itself when it is None or a positive number of seconds; a UserError otherwise."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise UserError(f"reward_timeout must be a positive number of seconds or None, not {timeout!r}")
    return float(timeout)


def rescorable(result: BatchResult) -> bool:
    """Whether a result read back on resume can be scored again without running it: a recorded run
    (its line holds the transcript and tokens the reward sees) whose reward failed."""
    return result.trajectory is not None and (result.error or "").startswith("RewardError:")


async def score(reward: Reward, result: BatchResult, *, timeout: float | None = None) -> None:
    """Set `result.reward` (and its trajectory's) from `reward`. A run that failed or waits for
    approval is not scored; a reward that raises, takes longer than `timeout` seconds (an async
    one: a sync reward holds the event loop and cannot be stopped) or returns no finite number
    leaves the run's output as it is, with `reward` None and an `error` that says so."""
    if result.error is not None or result.pending:
        return
    try:
        with anyio.fail_after(timeout):
            value: Any = reward(result)
            if inspect.isawaitable(value):
                value = await value
    except TimeoutError:
        result.error = f"RewardError: the reward took longer than {timeout:g} s"
        return
    except Exception as e:
        result.error = f"RewardError: the reward failed: {describe(e)}"
        return
    number = _finite(value)
    if number is None:
        # NaN or infinity in one sample would poison a whole group's advantage.
        shown = reprlib.repr(value) if isinstance(value, Real) else f"a {type(value).__name__}"
        result.error = f"RewardError: the reward returned {shown}, not a finite number"
        return
    result.reward = number
    if result.trajectory is not None:
        result.trajectory.reward = number


def _finite(value: Any) -> float | None:
    """`value` as a finite float (a bool counts: True is 1.0), or None: not a number, NaN, infinity,
    or an int too big for a float (float() raises OverflowError on it)."""
    if not isinstance(value, Real):
        return None
    try:
        number = float(value)
    except Exception:
        return None
    return number if math.isfinite(number) else None
