"""``agentkit web``: a chat page served with starlette; each question is a POST answered as server-sent events.

The server keeps no conversation: the page sends the transcript so far (``history``) with each
question and gets the new transcript back in the last event. A run that stops for approval names
the waiting calls in that event (``pending``); the page resumes it with ``history`` and
``approvals`` instead of a question.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ._common import add_agent_options
from ._guard import HostCheck, Refused, json_body
from ._listen import listen, serve
from ._main import CLIError
from ._pending import new_question

STATIC = Path(__file__).parent / "static"
MAX_BODY = 4_000_000
"""The largest request body taken, in bytes."""
MAX_DEPTH = 64
"""How deep lists and dicts may nest in a message (a real one: a few levels); deeper ones break code
that walks them recursively (copies, JSON encoders), so they are refused up front."""
_ROLES = ("user", "assistant", "tool")


def add(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "web", help="a chat page in the browser",
        description="Serve a chat page: streamed reasoning, tool calls and answers.",
    )  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="the port (default: 8000; 0: any free port)")
    add_agent_options(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise _missing(e) from None
    from ._common import build_agent

    sock = listen(args.host, args.port)  # before the model loads: a taken port is said at once
    try:
        application = app(build_agent(args), thinking=args.thinking, host=args.host)
    except BaseException:
        sock.close()
        raise
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"agentkit web: the chat page is at http://{shown}:{port}/ (Ctrl-C stops it)", file=sys.stderr, flush=True)
    serve(application, sock)
    return 0


def app(agent: Any, *, thinking: bool | None = None, host: str = "127.0.0.1") -> Any:
    """The starlette application that serves `agent`: the page, ``GET /api/info``, ``POST /api/chat``.

    Only requests that name the address served (`host`, or a loopback name) are answered: see `_guard`.
    """
    try:
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.requests import Request
        from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
        from starlette.routing import Mount, Route
        from starlette.staticfiles import StaticFiles
    except ImportError as e:
        raise _missing(e) from None

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def info(request: Request) -> Response:
        from ._common import all_tools

        tools = [{"name": t.name, "description": t.description or ""} for t in await all_tools(agent)]
        return JSONResponse({"model": model_name(agent.model), "tools": tools, "thinking": thinking})

    async def chat(request: Request) -> Response:
        try:
            body = await json_body(request, MAX_BODY)
        except Refused as e:
            return e.response()  # type: ignore[no-any-return]
        try:
            question, history, think, approvals = parse_request(body)
        except ValueError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        overrides: dict[str, Any] = {} if think is None else {"thinking": think}
        if approvals is not None:  # a resume: the history ends with the calls decided on
            overrides["approvals"] = approvals
            messages = history
        else:  # calls still waiting are denied: the person asked something else
            messages = [*history, *new_question(history, question)]
        return StreamingResponse(
            sse(agent, messages, overrides), media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )  # fmt: skip

    return Starlette(routes=[
        Route("/", page), Route("/api/info", info), Route("/api/chat", chat, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ], middleware=[Middleware(HostCheck, host=host)])  # fmt: skip


def parse_request(body: bytes) -> tuple[str, list[dict[str, Any]], bool | None, dict[str, bool | str] | None]:
    """``question``, ``history``, ``thinking`` and ``approvals`` from a request body (a question,
    or approvals that resume the history's waiting calls); ValueError says what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"the body is not JSON: {e}") from None
    except RecursionError:  # within the size limit, but arrays in arrays 100 000 deep
        raise ValueError("the body is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise ValueError('the body must be a JSON object: {"question": "...", "history": [...], "thinking": null}')
    unknown = sorted(set(data) - {"question", "history", "thinking", "approvals"})
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}: the fields are question, history, thinking, approvals")
    question, approvals = data.get("question"), data.get("approvals")
    if approvals is not None:
        if question is not None:
            raise ValueError("send a question or approvals, not both")
        if not isinstance(approvals, dict):
            raise ValueError('approvals must be an object: {"call id": true | false | "reason to deny"}')
        for call_id, verdict in approvals.items():
            if not isinstance(verdict, (bool, str)):
                raise ValueError(f"approvals[{call_id!r}] must be true, false or a reason (a string)")
        question = ""
    elif not isinstance(question, str) or not question.strip():
        raise ValueError("question must be a non-empty string")
    history = data.get("history", [])
    if not isinstance(history, list):
        raise ValueError("history must be a list of messages")
    for i, m in enumerate(history):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise ValueError(f"history[{i}] must be a message with a role among {list(_ROLES)}")
        if not isinstance(m.get("content"), (str, list, type(None))):
            raise ValueError(f"history[{i}].content must be a string or null")
        if _deeper(m, MAX_DEPTH):
            raise ValueError(f"history[{i}] is nested more than {MAX_DEPTH} deep")
    thinking = data.get("thinking")
    if thinking is not None and not isinstance(thinking, bool):
        raise ValueError("thinking must be true, false or null")
    if approvals is not None:
        _check_waiting(history, approvals)
    return question, history, thinking, approvals


def _deeper(value: Any, limit: int) -> bool:
    """Whether `value` is lists and dicts in each other more than `limit` deep (walked level by level,
    without recursion); `value` itself counts as one."""
    level = [value] if isinstance(value, (list, dict)) else []
    for _ in range(limit):
        level = [v for x in level for v in (x.values() if isinstance(x, dict) else x) if isinstance(v, (list, dict))]
        if not level:
            return False
    return True


def _check_waiting(history: list[dict[str, Any]], approvals: dict[str, bool | str]) -> None:
    """ValueError unless every approved call is one of the history's last message, which must be the
    assistant's, or a call a sub-run of that message waits on (`to_decide`): an old approval sent
    again (a replay) is refused before any run. (The server keeps no state, so a client can still
    forge that last message: see docs/cli.md.)"""
    from .._approvals import to_decide

    last = history[-1] if history else {}
    calls = last.get("tool_calls") if last.get("role") == "assistant" else None
    ids = {c.get("id") for c in calls if isinstance(c, dict)} if isinstance(calls, list) else set()
    if ids:  # a malformed sub-run record (a client's): its calls are not known, so none is taken
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            ids |= {c.id for c in to_decide(history, {})}
    stray = sorted(set(approvals) - ids)
    if stray:
        raise ValueError(f"approvals name calls that are not waiting in the history's last message: {', '.join(stray)}")


async def sse(agent: Any, messages: list[dict[str, Any]], overrides: dict[str, Any]) -> AsyncIterator[str]:
    """The run's events as server-sent events; the last is ``done`` (with ``pending``: the calls
    waiting for approval) or ``error``. A ``history`` event carries the transcript to keep each time
    calls were answered (see `_kept`): a page stopped mid-run goes on from the last one.

    A sub-agent's events (`SubAgentEvent`) come as ``sub_agent`` events (see `sub_event`), a handoff
    as ``handoff`` (``source``, ``target``)."""
    from contextlib import aclosing

    from .._result import RunFinished, ToolCallFinished, ToolCallStarted, TurnFinished
    from ..exceptions import AgentError, RunError
    from ._kept import Kept
    from ._render import result_dict

    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"

    kept = Kept(messages, resume="approvals" in overrides)
    try:
        async with aclosing(agent.stream(messages, **overrides)) as events:
            started = kept.start()
            if started is not None:
                yield event("history", {"history": started})
            async for e in events:
                if isinstance(e, ToolCallStarted):  # a sub-run's come wrapped: never the caller's, never kept
                    kept.started(e.call)
                shown = _shown(e)
                if shown is not None:
                    yield event(*shown)
                if isinstance(e, ToolCallFinished):
                    answered = kept.answered(e.call, e.content)
                    if answered is not None:
                        yield event("history", {"history": answered})
                elif isinstance(e, TurnFinished):
                    yield event("history", {"history": [m for m in e.messages if m.get("role") != "system"]})
                    yield event("turn", {"turn": e.turn})
                elif isinstance(e, RunFinished):
                    done = result_dict(e.result)
                    done["history"] = [m for m in e.result.messages if m.get("role") != "system"]
                    yield event("done", done)
    except AgentError as e:  # the model failed, a limit was reached...: the page shows it
        failed: dict[str, Any] = {"type": type(e).__name__, "message": " ".join(str(e).split())}
        ran = kept.failed(e.messages if isinstance(e, RunError) else [])
        if ran is not None:  # the calls that ran, with their real answers: never asked again as unrun
            failed["history"] = ran
        yield event("error", failed)


def sub_event(e: Any) -> dict[str, Any] | None:
    """A `SubAgentEvent` as the data of a ``sub_agent`` event, or None for one the page does not show:
    ``call`` (the id of the caller's call that runs the sub-agent), ``agent`` (its name), and the
    sub-run's event as ``event`` (its name) and ``data``: ``reasoning``, ``text``, ``tool_call``,
    ``tool_result``, ``handoff``, ``turn``, ``done`` (``agent``, ``turns``, ``usage``: never the
    sub-run's transcript, which is not the conversation's) or ``sub_agent`` again, one level down."""
    from .._result import RunFinished, TurnFinished

    inner = e.event
    shown: tuple[str, dict[str, Any]] | None
    if isinstance(inner, TurnFinished):
        shown = "turn", {"turn": inner.turn}
    elif isinstance(inner, RunFinished):
        result = inner.result
        usage = {**dataclasses.asdict(result.usage), "total_tokens": result.usage.total_tokens}
        shown = "done", {"agent": result.agent, "turns": result.turns, "usage": usage}
    else:
        shown = _shown(inner)
    if shown is None:
        return None
    return {"call": e.call.id, "agent": e.agent, "event": shown[0], "data": shown[1]}


def _shown(e: Any) -> tuple[str, dict[str, Any]] | None:
    """An event the page shows the same in a run and in a sub-run, as (name, data): a streamed
    piece, a tool call's start or end, a handoff, a sub-agent's event; None for any other."""
    from .._events import ReasoningDelta, TextDelta
    from .._result import Handoff, SubAgentEvent, ToolCallFinished, ToolCallStarted

    if isinstance(e, ReasoningDelta):
        return "reasoning", {"text": e.text}
    if isinstance(e, TextDelta):
        return "text", {"text": e.text}
    if isinstance(e, ToolCallStarted):
        return "tool_call", {"id": e.call.id, "name": e.call.name, "arguments": e.call.arguments}
    if isinstance(e, ToolCallFinished):
        return "tool_result", {"id": e.call.id, "name": e.call.name, "content": e.content, "error": e.error}
    if isinstance(e, Handoff):
        return "handoff", {"source": e.source, "target": e.target}
    if isinstance(e, SubAgentEvent):
        data = sub_event(e)
        return None if data is None else ("sub_agent", data)
    return None


def _missing(error: ImportError) -> CLIError:
    return CLIError(f"the chat page needs starlette and uvicorn ({error}): pip install 'agentkit[web]'")


def model_name(model: Any) -> str:
    """A short name for the page's header."""
    from .._local import DEMO_PATH

    name = getattr(model, "model", None)
    if isinstance(name, str):
        return name
    path = getattr(getattr(model, "model", None), "name_or_path", None)
    if path and Path(str(path)).resolve() == DEMO_PATH.resolve():
        return "built-in demo model"
    return str(path) if path else type(model).__name__
