"""Every error agentkit raises, under one root, `AgentError`.

Three branches, by who can act on the problem:

- `ToolError`: something the *model* got wrong (bad arguments, an unknown tool). The agent
  loop turns these into tool messages so the model can correct itself; callers rarely see them.
- `UserError`: the *caller* misused agentkit (a tool that cannot be described, bad options).
- `RunError`: a run failed (the model or server failed, the approval hook failed, too many
  turns). It carries the transcript so far as `.messages`, valid: every tool call in it has its
  tool message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._messages import Usage
    from ._trajectory import Trajectory

__all__ = [
    "AgentError",
    "ApprovalError",
    "AuthorizationError",
    "CapabilityError",
    "MaxTurnsExceeded",
    "ModelError",
    "OutputValidationError",
    "ResumeConflictError",
    "RunError",
    "SessionError",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "ToolError",
    "ToolsetError",
    "UnknownToolError",
    "UsageLimitExceeded",
    "UserError",
]


class AgentError(Exception):
    """Root of every agentkit error."""


# --- what steers the model ---------------------------------------------------------------


class ToolError(AgentError):
    """A problem with a tool call that the model can fix; its message is meant for the model."""


class ToolArgumentsError(ToolError):
    """The arguments a model sent do not fit the tool's schema.

    The message lists every problem with its path (``location``, ``items[2].name``), in words a
    model can act on; `problems` holds them one per entry.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems if problems is not None else [message]


class UnknownToolError(ToolError):
    """The model called a tool that the agent does not have."""


# --- the caller's misuse ---------------------------------------------------------------------


class UserError(AgentError):
    """agentkit was used in a way it does not support."""


class ToolDefinitionError(UserError, TypeError):
    """A function cannot be turned into a tool; the message names the function and parameter."""


# --- what failed in a run ----------------------------------------------------------------------


class RunError(AgentError):
    """A run ended without a final answer. `.messages` is the valid transcript so far; `.trajectory`
    the tokens so far of a run with ``record=True`` (None otherwise)."""

    def __init__(self, message: str, *, messages: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.messages: list[dict[str, Any]] = messages if messages is not None else []
        self.trajectory: Trajectory | None = None


class ModelError(RunError):
    """The model or its server failed.

    `status` is the HTTP status when there was one, `body` the server's error message, and
    `partial` whatever the model had produced before the failure (text, reasoning, calls).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str | None = None,
        partial: Any = None,
        messages: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, messages=messages)
        self.status = status
        self.body = body
        self.partial = partial


class MaxTurnsExceeded(RunError):
    """The run used `max_turns` model calls without reaching a final answer."""


class ApprovalError(RunError):
    """The `approve` hook raised; its exception is the ``__cause__``.

    The call it was asked about did not run: in `.messages` that call is answered with a tool
    message saying so, and the other calls of the same message have their real results.
    """


class OutputValidationError(RunError):
    """The model's final output did not fit `output_type` after `output_retries` corrections.

    `problems` lists what was wrong with the last attempt; `.messages` ends with that attempt
    and the message telling the model what was wrong.
    """

    def __init__(self, message: str, *, problems: list[str], messages: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, messages=messages)
        self.problems = problems


class UsageLimitExceeded(RunError):
    """The run reached one of its `UsageLimits`; `.usage` is what it had used by then."""

    def __init__(self, message: str, *, usage: Usage, messages: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, messages=messages)
        self.usage = usage


class ToolsetError(RunError):
    """A toolset could not give the run its tools: an MCP server that does not start, refuses
    the connection or does not answer in time. Raised before the first model call."""


class AuthorizationError(ToolsetError):
    """An MCP server refused the credentials (HTTP 401 or 403), or has none to go on. The message
    says "authorization", what the server said (its ``WWW-Authenticate`` header) and what to do.

    `status` is 401 (no or invalid credentials) or 403 (valid ones lacking a permission);
    `www_authenticate` the server's ``WWW-Authenticate`` header (``error``, ``scope``,
    ``resource_metadata``...), or None when it sent none.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 401,
        www_authenticate: str | None = None,
        messages: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, messages=messages)
        self.status = status
        self.www_authenticate = www_authenticate


class CapabilityError(RunError):
    """A run capability (your own, passed as ``capabilities=``) raised an exception that is not
    agentkit's; it is the ``__cause__``. `.messages` is the transcript, with the calls that ran."""


class ResumeConflictError(RunError):
    """A resume could not claim its session's pending calls: another resume of that session
    claimed or answered them first. Nothing ran; `calls` are the ids, `.messages` is empty.

    A claim whose resume died before storing the answers stays: see docs/sessions.md for
    ``release_calls``.
    """

    def __init__(self, message: str, *, calls: list[str]) -> None:
        super().__init__(message)
        self.calls = calls


class SessionError(RunError):
    """The session failed to store a run's messages, or to claim a resume's pending calls (then
    nothing ran, and `.messages` is empty); the exception it raised is the ``__cause__``.

    `.messages` is the run's transcript, `result` the `RunResult` when the run itself finished
    (None when the run failed too: this error's message then says how).
    """

    def __init__(self, message: str, *, messages: list[dict[str, Any]], result: Any = None) -> None:
        super().__init__(message, messages=messages)
        self.result = result
