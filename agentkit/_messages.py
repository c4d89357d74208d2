"""The data every part of agentkit exchanges: a message, token usage. Imports nothing of agentkit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Message", "Usage"]

Message = dict[str, Any]
"""An OpenAI chat-completions message dict."""


@dataclass(kw_only=True)
class Usage:
    """Token counts, summed over calls with ``+``."""

    prompt_tokens: int = 0
    """Tokens read."""
    completion_tokens: int = 0
    """Tokens generated."""
    requests: int = 0
    """Model calls (counted by the agent loop; a backend's own `Usage` leaves it 0)."""
    tool_calls: int = 0
    """Tool calls that ran (counted by the agent loop)."""

    @property
    def total_tokens(self) -> int:
        """Both together."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            requests=self.requests + other.requests,
            tool_calls=self.tool_calls + other.tool_calls,
        )
