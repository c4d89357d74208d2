"""A recorded run as one token sequence: what a trainer scores (SFT data, RL rollouts)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Trajectory"]


@dataclass(kw_only=True)
class Trajectory:
    """The exact tokens a run fed to and took from its model (``record=True``).

    Token-in/token-out: the prompt of each model call after the first is exactly
    ``prompt_ids + response_ids[:turn_starts[i]]``, so the whole run is one sequence a trainer
    scores without tokenizing again. ``response_ids``, ``response_mask`` and
    ``response_logprobs`` always have the same length.
    """

    prompt_ids: list[int] = field(default_factory=list)
    """The first model call's prompt, as fed to the model."""
    response_ids: list[int] = field(default_factory=list)
    """Every token after the first prompt, in order: what the model generated and what was fed
    back between model calls (tool results and the chat template's text around them)."""
    response_mask: list[int] = field(default_factory=list)
    """1 for a token the model generated, 0 for a token fed to it."""
    response_logprobs: list[float] = field(default_factory=list)
    """A generated token's log-probability under the model's raw distribution (logits before
    temperature, top-k and top-p) given everything before it; 0.0 where the mask is 0."""
    reward: float | None = None
    """The run's reward, set by ``run_many(..., reward=fn)`` or by the caller."""
    turn_starts: list[int] = field(default_factory=list)
    """For each model call, the index in ``response_ids`` where its generated tokens start."""
    finish_reasons: list[str] = field(default_factory=list)
    """For each model call, why it stopped (``"stop"``, ``"length"``, ``"tool_calls"``...)."""
