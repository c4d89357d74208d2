"""One model call streamed: its events go to the caller as they come, and each tool call starts
as soon as it is complete in the stream (early dispatch), unless the run waits for the whole message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import anyio

from ._bridge import Emit
from ._capability import RunState
from ._events import ReasoningDelta, TextDelta, ToolCall, ToolCallReady
from ._model import Completion, CompletionDone
from .exceptions import ModelError

__all__ = ["stream_turn"]


async def stream_turn(
    stream: AsyncIterator[Any], run: RunState, emit: Emit, answer: Callable[[ToolCall], Coroutine[Any, Any, None]]
) -> Completion:
    """Read `stream` (a `Model.stream`) to its completion, starting `answer(call)` for each call
    ready before the end (if `run.early`); returns when those calls are answered too."""
    completion: Completion | None = None
    failure: Exception | None = None
    state = run.current
    assert state is not None
    async with anyio.create_task_group() as tg:
        try:
            async for event in stream:
                if isinstance(event, CompletionDone):
                    completion = event.completion
                    continue
                if isinstance(event, TextDelta):
                    state.text.append(event.text)
                elif isinstance(event, ReasoningDelta):
                    state.reasoning.append(event.text)
                event = state.own_ids(event, run.snapshot)
                await emit(event)
                if run.early and isinstance(event, ToolCallReady):
                    state.started.append(event.call)
                    tg.start_soon(answer, event.call)
            if completion is None:
                raise ModelError("the model's stream ended without a completion")
        except Exception as e:
            # Raised below, outside the task group, unwrapped. The tools already started are
            # not cancelled: their side effects happen anyway, so they finish (within
            # tool_timeout) and the error's transcript records their real results.
            failure = e
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
    if failure is not None:
        raise failure
    assert completion is not None
    return completion
