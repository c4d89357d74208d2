"""What the agent loop tells an observer (tracing): a run, its model calls, its tool calls.

The loop asks `observer()` once per run; by default it gets `NOOP`, whose methods do nothing,
so a run that nobody observes pays for a few method calls per step and nothing more.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import Self

from ._model import Completion, Message

__all__ = ["NOOP", "Observer", "observer", "set_observer"]


class Step:
    """One model or tool call being observed; also a context manager (it sees the exception)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        return None

    def completion(self, completion: Completion) -> None:
        """The model call's response."""

    def answered(self, content: str, error: str | None, error_type: str | None = None) -> None:
        """The tool call's answer, what went wrong (None if nothing) and, when an exception did, its type's name."""


class Observer(Step):
    """One run being observed; `chat` and `tool` observe its steps."""

    def chat(self, messages: list[Message], options: dict[str, Any]) -> Step:
        """A model call with `messages` (as sent) and its keyword options."""
        return self

    def tool(self, call: Any) -> Step:
        """A tool call (a `ToolCall`)."""
        return self

    def finished(self, result: Any) -> None:
        """The run's `RunResult`."""


NOOP = Observer()

_factory: Any = None
"""None, or a function (agent, messages) -> Observer, set by `agentkit.tracing.instrument`."""


def observer(agent: Any, messages: list[Message]) -> Observer:
    """The observer of a run that starts now."""
    return NOOP if _factory is None else _factory(agent, messages)  # type: ignore[no-any-return]


def set_observer(factory: Any) -> None:
    """Observe every run from now on with `factory(agent, messages)` (None: stop)."""
    global _factory
    _factory = factory
