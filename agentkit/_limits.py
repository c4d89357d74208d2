"""Usage limits: a run's budget of model calls, tool calls and tokens."""

from __future__ import annotations

from dataclasses import dataclass

from ._model import Message, Usage
from .exceptions import UsageLimitExceeded, UserError

__all__ = ["UsageLimits"]


@dataclass(frozen=True, kw_only=True)
class UsageLimits:
    """Bounds on one run's totals over all its model calls; None leaves a bound off."""

    max_requests: int | None = None
    """Model calls: a call that would go over is not sent."""
    max_tool_calls: int | None = None
    """Tool calls that run; the ones past the bound are answered "not run" and the run stops."""
    max_input_tokens: int | None = None
    """Prompt tokens, checked after each response."""
    max_output_tokens: int | None = None
    """Generated tokens, checked after each response."""
    max_total_tokens: int | None = None
    """Both together, checked after each response."""

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_tool_calls", "max_input_tokens", "max_output_tokens", "max_total_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise UserError(f"UsageLimits.{name} must be a non-negative int or None, not {value!r}")

    def check_request(self, usage: Usage, messages: list[Message]) -> None:
        """Before a model call: raise if it would be one call too many."""
        if self.max_requests is not None and usage.requests + 1 > self.max_requests:
            raise UsageLimitExceeded(
                f"the next model call would exceed max_requests={self.max_requests}",
                usage=usage,
                messages=list(messages),
            )

    @property
    def limits_tokens(self) -> bool:
        """Whether a token bound is set (a response is then checked before any of its calls run)."""
        return (self.max_input_tokens, self.max_output_tokens, self.max_total_tokens) != (None, None, None)

    def token_problem(self, usage: Usage) -> str | None:
        """After a response: what token bound the run is over, if any."""
        for name, used in (
            ("max_input_tokens", usage.prompt_tokens),
            ("max_output_tokens", usage.completion_tokens),
            ("max_total_tokens", usage.total_tokens),
        ):
            bound = getattr(self, name)
            if bound is not None and used > bound:
                return f"{used} tokens exceed {name}={bound}"
        return None

    def tool_call_allowed(self, usage: Usage) -> bool:
        """Whether one more tool call may run."""
        return self.max_tool_calls is None or usage.tool_calls < self.max_tool_calls
