"""An MCP server's elicitation on the chat page: a ``form`` event in the answer's stream, and the
page's ``POST /api/elicit`` that answers it.

The server keeps no conversation, but a form waits in memory while its run streams: the run's
stream is the only way to reach the page that asked, so the form goes out as an event of that
stream, named by a random id that only that page learns. A page that closes (its stream ends), a
form nobody answers within `FORM_TIMEOUT`, or an id that is not waiting: declined. The answer is
checked against the schema by agentkit's MCP client before it is sent to the server.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio

logger = logging.getLogger("agentkit")

FORM_TIMEOUT = 600.0
"""How long a form waits for the page's answer, in seconds; then it is declined."""
MAX_FORM_BODY = 100_000
"""The largest answer to a form taken, in bytes."""


@dataclass(kw_only=True)
class _Form:
    done: anyio.Event = field(default_factory=anyio.Event)
    """Set once the page answered (or the form was given up)."""
    answer: dict[str, Any] | None = None
    """The page's answer; None: declined."""


@dataclass(kw_only=True)
class _Page:
    send: Callable[[str], Awaitable[None]]
    """Sends a server-sent event to the page whose run this is."""
    forms: dict[str, _Form] = field(default_factory=dict)
    """The forms this page was sent and has not answered, by id."""


_PAGE: contextvars.ContextVar[_Page | None] = contextvars.ContextVar("agentkit_page", default=None)
_WAITING: dict[str, _Form] = {}
"""Every form waiting for an answer, by id (ids are random: one page cannot answer another's)."""


def event(name: str, data: dict[str, Any]) -> str:
    """A server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


async def page_elicit(message: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The ``elicit=`` of ``agentkit web``'s MCP servers: a form on the page whose run made the call."""
    page = _PAGE.get()
    if page is None:  # not in a run that a page streams (the tool list at /api/info)
        logger.warning("an MCP server asked for a form outside a run the page streams: declined")
        return None
    form_id = secrets.token_urlsafe(18)
    form = _Form()
    page.forms[form_id] = _WAITING[form_id] = form
    try:
        await page.send(event("form", {"id": form_id, "message": message, "schema": schema}))
        with anyio.move_on_after(FORM_TIMEOUT):
            await form.done.wait()
        return form.answer
    finally:
        page.forms.pop(form_id, None)
        _WAITING.pop(form_id, None)


def answer_form(form_id: str, answer: dict[str, Any] | None) -> bool:
    """Give the waiting form `form_id` the page's answer (None: declined); False when none waits."""
    form = _WAITING.pop(form_id, None)
    if form is None or form.done.is_set():
        return False
    form.answer = answer
    form.done.set()
    return True


def parse_answer(body: bytes) -> tuple[str, dict[str, Any] | None]:
    """``id`` and ``content`` (an object, or null to decline) of a form's answer; ValueError says what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"the body is not JSON: {type(e).__name__}") from None
    if not isinstance(data, dict) or set(data) != {"id", "content"}:
        raise ValueError('the body must be {"id": "form id", "content": {...} or null}')
    if not isinstance(data["id"], str):
        raise ValueError("id must be a string")
    if data["content"] is not None and not isinstance(data["content"], dict):
        raise ValueError("content must be an object (the answer) or null (declined)")
    return data["id"], data["content"]


def streamed(chunks: Callable[[], AsyncGenerator[str, None]], **options: Any) -> Any:
    """A starlette ``StreamingResponse`` of `chunks()`, run in a task of its own that forms can
    join: a form asked while a tool call is in flight (no event of the run to carry it) goes out
    at once. When the page goes away the run is cancelled and its forms declined."""
    from starlette.responses import StreamingResponse

    sender, receiver = anyio.create_memory_object_stream[str](0)  # the run waits for a slow page, as before

    async def produce() -> None:
        page = _Page(send=sender.send)
        _PAGE.set(page)  # this task's context, copied into the tasks the run starts (its MCP connections)
        try:
            async with sender, aclosing(chunks()) as stream:
                async for chunk in stream:
                    await sender.send(chunk)
        finally:
            for form_id in list(page.forms):
                answer_form(form_id, None)

    class Streamed(StreamingResponse):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async with anyio.create_task_group() as group:
                group.start_soon(produce)
                try:
                    await super().__call__(scope, receive, send)
                finally:
                    group.cancel_scope.cancel()

    return Streamed(receiver, **options)
