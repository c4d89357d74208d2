"""Answering one tool call: ask the approval hook, run the tool, turn the outcome into text."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

import anyio
import anyio.to_thread
import pydantic

from ._context import RunContext
from ._events import ToolCall
from .exceptions import ToolError
from .tools import Tool

logger = logging.getLogger("agentkit")

Approval = Callable[[ToolCall], "bool | str | Awaitable[bool | str]"]
"""The `approve` hook: True runs the call, False or a reason (a str) denies it."""


class Outcome(NamedTuple):
    """How a call was answered."""

    content: str
    """The tool message's text, for the model (not yet cut to `max_tool_output`)."""
    error: str | None
    """None, or what went wrong, for the caller."""
    hook_failure: BaseException | None = None
    """What the approval hook raised, when it did (the call did not run)."""
    images: tuple[dict[str, Any], ...] = ()
    """Image parts the tool returned (`WithImages`), for a model that takes images."""
    error_type: str | None = None
    """The name of the exception's type, when the error is an exception's (tracing records only it)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WithImages:
    """A tool result with images (an MCP result, say): `text` is the tool message; `images`
    (OpenAI ``image_url`` parts) follow in a user message when the model takes images."""

    text: str
    """The tool message's text, with a placeholder line per image."""
    images: tuple[dict[str, Any], ...]
    """The images as content parts: ``{"type": "image_url", "image_url": {"url": "data:..."}}``."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def render_result(value: Any) -> str:
    """A tool's return value as the text the model reads: a str as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=_jsonable)


def cap(content: str, limit: int | None) -> str:
    """`content` cut to `limit` characters, with a marker saying how many were dropped."""
    if limit is None or len(content) <= limit:
        return content
    return f"{content[:limit]}\n[... truncated {len(content) - limit} characters]"


async def _ask(approve: Approval, call: ToolCall) -> bool | str:
    # Called in a worker thread: a sync hook may block (a prompt, a policy lookup) without
    # stopping the event loop, the other calls or the timeout; abandoned on timeout, like a
    # sync tool. An async hook's call only makes its coroutine, awaited here in the loop.
    verdict: Any = await anyio.to_thread.run_sync(approve, call, abandon_on_cancel=True)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    return verdict  # type: ignore[no-any-return]


async def answer(
    call: ToolCall,
    malformed: str | None,
    tools: Mapping[str, Tool[Any, Any]],
    *,
    approve: Approval | None,
    approval_timeout: float | None,
    tool_timeout: float | None,
    decision: bool | str | None = None,
    permit: Callable[[], bool] | None = None,
    context: Callable[[], RunContext[Any]] | None = None,
) -> Outcome:
    """Answer one call. Never raises (but for cancellation): every failure is an `Outcome`.

    `decision` is the caller's answer for a call that waited for approval (it replaces the
    hook); `permit()` says whether one more call may run (usage limits); `context()` makes the
    `RunContext` of a tool that takes one.
    """
    if malformed is not None:
        return Outcome(f"Error: your tool call could not be read: {malformed}. Write it again.", malformed)
    found = tools.get(call.name)
    if found is None:
        known = ", ".join(tools) or "none"
        content = f"Error: there is no tool named {call.name!r}. Available tools: {known}."
        return Outcome(content, f"unknown tool {call.name!r}")
    verdict: bool | str = True
    if decision is not None:
        verdict = decision
    elif approve is not None:
        # move_on_after, not fail_after: a TimeoutError the hook raises itself is a failure.
        with anyio.move_on_after(approval_timeout) as scope:
            try:
                verdict = await _ask(approve, call)
            except Exception as e:
                logger.info("the approval hook raised %s on call %s", type(e).__name__, call.id)
                return Outcome("Error: this call was not run: the approval check failed.", "approval hook failed", e)
        if scope.cancelled_caught:
            error = f"not approved in time ({approval_timeout} s)"
            return Outcome(f"Error: this call was not run: it was {error}.", error)
    if verdict is not True:
        reason = verdict if isinstance(verdict, str) and verdict else "denied"
        return Outcome(f"Error: the user did not allow this tool call ({reason}).", f"not approved: {reason}")
    if permit is not None and not permit():
        error = "the run's limit on tool calls was reached"
        return Outcome(f"Error: this call was not run: {error}.", error)
    if found.takes_context:
        if context is None:
            error = f"the tool {call.name} needs a RunContext and none was given"
            return Outcome(f"Error: {error}.", error)
        return await _run(found, call, tool_timeout, context())
    return await _run(found, call, tool_timeout)


async def _run(
    found: Tool[Any, Any], call: ToolCall, timeout: float | None, context: RunContext[Any] | None = None
) -> Outcome:
    logger.info("running tool %s (call %s)", call.name, call.id)
    logger.debug("tool %s arguments: %s", call.name, call.arguments)
    try:
        with anyio.move_on_after(timeout) as scope:
            value = await found.acall(call.arguments, context)
    except ToolError as e:
        return Outcome(f"Error: {e}", str(e), error_type=type(e).__name__)
    except Exception as e:
        logger.info("tool %s raised %s", call.name, type(e).__name__, exc_info=True)
        error = f"{type(e).__name__}: {e}"
        return Outcome(f"Error: the tool {call.name} raised {error}", error, error_type=type(e).__name__)
    if scope.cancelled_caught:
        error = f"timed out after {timeout} s"
        return Outcome(f"Error: the tool {call.name} {error}.", error)
    if isinstance(value, WithImages):
        return Outcome(value.text, None, images=value.images)
    try:
        return Outcome(render_result(value), None)
    except (TypeError, ValueError) as e:
        error = f"the tool returned a value that cannot be sent as JSON ({e})"
        return Outcome(f"Error: {error}.", error)
