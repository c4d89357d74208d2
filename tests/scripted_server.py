"""A scripted OpenAI-compatible HTTP server for tests: real HTTP on 127.0.0.1.

It records every request body and answers from a queue of `Reply` objects: a JSON body, or
SSE chunks (with delays), or an HTTP error, or a connection cut mid-stream. `/v1/models`
reports the `owned_by` of the dialect it imitates. `tool_parser=False` imitates vLLM 0.32 started
without `--enable-auto-tool-choice --tool-call-parser` (the Intern-S1 guide's command): a request
with `tools` and any `tool_choice` but "none" gets vLLM's own HTTP 400; "none" goes through.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    """One scripted answer."""

    body: Any = None
    chunks: list[Any] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None  # close the connection after this many chunks
    raw_chunks: bool = False  # chunks are sent as given (for invalid JSON)


# vLLM's answers, as 0.32.0 words them (vllm/renderers/online_renderer.py, the check of
# tool_choice without a tool parser; vllm/entrypoints/serve/engine/protocol.py's ErrorResponse).
def vllm_no_parser_error(tool_choice: Any) -> dict[str, Any]:
    if tool_choice in (None, "auto"):
        message = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
    else:
        what = f'function "{tool_choice["function"]["name"]}"' if isinstance(tool_choice, dict) else f'"{tool_choice}"'
        message = f"tool_choice={what} requires --tool-call-parser to be set"
    return {"error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}}


def completion(content: str | None = "", *, reasoning: str | None = None, reasoning_field: str = "reasoning_content",
               tool_calls: list[dict] | None = None, finish: str = "stop") -> dict:  # fmt: skip
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message[reasoning_field] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}  # fmt: skip


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip


def call(name: str, args: dict, cid: str | None = "call_1", index: int | None = 0) -> dict:
    c: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
    if cid is not None:
        c["id"] = cid
    if index is not None:
        c["index"] = index
    return c


class ScriptedServer:
    """Start with `with ScriptedServer(owned_by="vllm") as server:`; `server.url` is the /v1 base."""

    def __init__(self, owned_by: str = "vllm", model: str = "test-model", *, tool_parser: bool = True) -> None:
        self.owned_by, self.model, self.tool_parser = owned_by, model, tool_parser
        self.replies: list[Reply] = []
        self.default: Reply | None = None
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.models_headers: list[dict[str, str]] = []
        app = Starlette(routes=[
            Route("/v1/models", self._models),
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
        ])  # fmt: skip
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("scripted server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def script(self, *replies: Reply) -> ScriptedServer:
        self.replies.extend(replies)
        return self

    async def _models(self, request: Request) -> Response:
        self.models_headers.append(dict(request.headers))
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": self.owned_by}]})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if not self.tool_parser and body.get("tools") and body.get("tool_choice") != "none":
            return JSONResponse(vllm_no_parser_error(body.get("tool_choice")), status_code=400)
        if self.responder is not None:
            reply = self.responder(body)
        else:
            reply = self.replies.pop(0) if self.replies else self.default
        if reply is None:
            return JSONResponse({"error": {"message": "no scripted reply left"}}, status_code=500)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200 or reply.chunks is None:
            return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

        async def events():
            for i, c in enumerate(reply.chunks):
                if reply.cut_after is not None and i >= reply.cut_after:
                    raise ConnectionResetError("scripted cut")
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
                data = c if reply.raw_chunks and isinstance(c, str) else json.dumps(c)
                yield f"data: {data}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=reply.headers)
