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
    abandoned: bool = False
    """The tool timed out in a worker thread that may still be running."""


MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""The default limit on one image a tool returns, in bytes (decoded): a larger one is left out."""
MAX_IMAGES = 8
"""The default limit on the images of one tool result: the ones after it are left out."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WithImages:
    """A tool result with images (an MCP result, say): `text` is the tool message; `images`
    (OpenAI ``image_url`` parts) follow in a user message when the model takes images. An image
    over a limit is left out, and a note at the top of the tool message says so."""

    text: str
    """The tool message's text, with a placeholder line per image."""
    images: tuple[dict[str, Any], ...]
    """The images as content parts: ``{"type": "image_url", "image_url": {"url": "data:..."}}``."""
    max_image_bytes: int | None = MAX_IMAGE_BYTES
    """The most bytes one image may have (decoded from its ``data:`` URL); None: no limit."""
    max_images: int | None = MAX_IMAGES
    """The most images sent, the first that fit; None: no limit."""

    def bounded(self) -> tuple[str, tuple[dict[str, Any], ...]]:
        """The tool message's text, after a note per image left out, and the images kept."""
        notes: list[str] = []
        kept: list[dict[str, Any]] = []
        total = len(self.images)
        for i, part in enumerate(self.images, 1):
            if self.max_images is not None and len(kept) >= self.max_images:
                # One note for all the rest: a server may send thousands.
                which = f"image {i} of {total}" if i == total else f"images {i} to {total} of {total}"
                notes.append(f"[{which} left out: over the limit of {self.max_images} images per result]")
                break
            mime, size = _image_size(part)
            if self.max_image_bytes is not None and size is not None and size > self.max_image_bytes:
                notes.append(f"[image {i} of {total} ({mime}, {size} bytes) left out: "
                             f"over the limit of {self.max_image_bytes} bytes per image]")  # fmt: skip
            else:
                kept.append(part)
        # At the top: a tool message cut to `max_tool_output` keeps them.
        return "\n".join([*notes, self.text]) if notes else self.text, tuple(kept)


def _image_size(part: Any) -> tuple[str, int | None]:
    """An image part's MIME type and decoded size, when its URL is a ``data:`` URL."""
    image_url = part.get("image_url") if isinstance(part, dict) else None
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str) or not url.startswith("data:"):
        return "image", None
    header, _, payload = url[5:].partition(",")
    mime = header.split(";")[0] or "image"
    if header.endswith(";base64"):
        return mime, len(payload) * 3 // 4 - payload[-2:].count("=")
    return mime, len(payload)


def _known(value: Any) -> bool:
    """Whether `_jsonable` has a JSON form for `value`."""
    return isinstance(value, (pydantic.BaseModel, enum.Enum, datetime.date, datetime.time, set, frozenset, tuple)) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    )


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


class _NeedsText(Exception):
    """A value only its `str` describes: code of the tool's own that may be slow."""


def _refuse(value: Any) -> Any:
    if _known(value):
        return _jsonable(value)
    raise _NeedsText


def plain_text(value: Any) -> str | None:
    """`render_result(value)` when no `str()` of the tool's objects is needed (plain JSON), else None."""
    if isinstance(value, str):
        return value
    try:
        if not isinstance(value, (dict, list, tuple, set, frozenset)):
            return json.dumps(_jsonable(value) if _known(value) else value, ensure_ascii=False)
        return json.dumps(value, ensure_ascii=False, default=_refuse)
    except (_NeedsText, TypeError, ValueError):
        return None


def render_result(value: Any) -> str:
    """A tool's return value as the text the model reads: a str as is, anything else as JSON;
    what JSON cannot encode (an `mpmath.mpf`, an object) as its `str`, at whatever depth."""
    if isinstance(value, str):
        return value
    try:
        if not isinstance(value, (dict, list, tuple, set, frozenset)):  # one value: its str, unquoted
            return json.dumps(_jsonable(value) if _known(value) else value, ensure_ascii=False)
        return json.dumps(value, ensure_ascii=False, default=lambda v: _jsonable(v) if _known(v) else str(v))
    except (TypeError, ValueError):  # not JSON at the top, or a value that contains itself
        return str(value)


def cap(content: str, limit: int | None) -> str:
    """`content` cut to `limit` characters, with a marker saying how many were dropped."""
    if limit is None or len(content) <= limit:
        return content
    return f"{content[:limit]}\n[... truncated {len(content) - limit} characters]"


async def ask(approve: Approval, call: ToolCall) -> bool | str:
    """The hook's verdict on `call` (a sync hook runs in a worker thread)."""
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
    tool_timeout: float | None = None,
    count: Callable[[], None] | None = None,
    context: Callable[[], RunContext[Any]] | None = None,
) -> Outcome:
    """Answer one call: run its tool, or say why it cannot run (a malformed call, an unknown
    tool). Never raises (but for cancellation): every failure is an `Outcome`. `count()` is
    called when the tool is about to run; `context()` makes the `RunContext` of a tool that
    takes one. Approvals and limits are the run's capabilities (`_approving`, `_budget`)."""
    if malformed is not None:
        return Outcome(f"Error: your tool call could not be read: {malformed}. Write it again.", malformed)
    found = tools.get(call.name)
    if found is None:
        known = ", ".join(tools) or "none"
        content = f"Error: there is no tool named {call.name!r}. Available tools: {known}."
        return Outcome(content, f"unknown tool {call.name!r}")
    if count is not None:
        count()
    if found.takes_context:
        if context is None:
            error = f"the tool {call.name} needs a RunContext and none was given"
            return Outcome(f"Error: {error}.", error)
        return await _run(found, call, tool_timeout, context())
    return await _run(found, call, tool_timeout)


async def judge(
    call: ToolCall, approve: Approval | None, timeout: float | None, decision: bool | str | None = None
) -> Outcome | None:
    """None when `call` may run: the caller's `decision` on it, or else the `approve` hook, says so
    (no decision and no hook: it may); otherwise the answer that says why it does not run."""
    verdict: bool | str = True
    if decision is not None:
        verdict = decision
    elif approve is not None:
        # move_on_after, not fail_after: a TimeoutError the hook raises itself is a failure.
        with anyio.move_on_after(timeout) as scope:
            try:
                verdict = await ask(approve, call)
            except Exception as e:
                logger.info("the approval hook raised %s on call %s", type(e).__name__, call.id)
                return Outcome("Error: this call was not run: the approval check failed.", "approval hook failed", e)
        if scope.cancelled_caught:
            error = f"not approved in time ({timeout} s)"
            return Outcome(f"Error: this call was not run: it was {error}.", error)
    if verdict is not True:
        reason = verdict if isinstance(verdict, str) and verdict else "denied"
        return Outcome(f"Error: the user did not allow this tool call ({reason}).", f"not approved: {reason}")
    return None


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
        if not found.is_async:  # its thread cannot be stopped: the call may still complete
            error += "; it may still be running, and its effect may still happen"
        return Outcome(f"Error: the tool {call.name} {error}.", error, abandoned=not found.is_async)
    if isinstance(value, WithImages):
        shown, images = value.bounded()
        return Outcome(shown, None, images=images)
    plain = plain_text(value)
    if plain is not None:
        return Outcome(plain, None)
    text: str | None = None
    try:  # its str() is the tool's own code: in a thread, bounded like the tool
        with anyio.move_on_after(timeout) as scope:
            text = await anyio.to_thread.run_sync(render_result, value, abandon_on_cancel=True)
    except Exception as e:  # a __str__ that raises
        error = f"the tool returned a value that cannot be written as text ({type(e).__name__}: {e})"
        return Outcome(f"Error: {error}.", error)
    if scope.cancelled_caught or text is None:
        error = f"writing its result as text took longer than {timeout} s"
        return Outcome(f"Error: the tool {call.name} ran, but {error}.", error)
    return Outcome(text, None)
