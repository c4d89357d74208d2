"""A scripted OpenAI-compatible server for the benchmarks: answers at once, in its own process.

    python tools/bench_server.py --port 8765

The requested model id chooses the script:
- ``steps-N``: a tool call to ``add`` until the conversation has N assistant turns, then "done";
- ``parallel-N``: one message with N calls to ``pause``, then "done";
- ``tail-S``: (streaming) a ``pause`` call first, then S seconds more of streamed text;
- ``ask-N``: a call to ``ask`` (``{"input": ...}``) until the conversation has N assistant turns, then "done";
- any other id (``answer``): "done" at once.
Streaming requests get SSE chunks (the call's name, then its arguments, as vLLM sends them).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

_ids = itertools.count()


def _call(name: str, args: dict[str, object]) -> dict[str, object]:
    return {"id": f"call_{next(_ids)}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def _plan(
    model: str, messages: list[dict[str, object]], final_answer_tool: bool = False
) -> tuple[list[dict[str, object]], str, float]:
    """(tool calls, content, seconds of trailing stream) for this request."""
    kind, _, number = model.partition("-")
    turns = sum(1 for m in messages if m.get("role") == "assistant")
    if kind == "steps" and turns < int(number or 5):
        return [_call("add", {"a": turns, "b": 1})], "", 0.0
    if kind == "ask" and turns < int(number or 5):
        return [_call("ask", {"input": f"question {turns}"})], "", 0.0
    if kind == "parallel" and turns == 0:
        return [_call("pause", {"seconds": 0.1}) for _ in range(int(number))], "", 0.0
    if kind == "tail" and turns == 0:
        return [_call("pause", {"seconds": 0.0})], "", float(number)
    if final_answer_tool:  # smolagents ends a run with its final_answer tool
        return [_call("final_answer", {"answer": "done"})], "", 0.0
    return [], "done", 0.0


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "steps-5", "object": "model", "owned_by": "vllm"}]})


async def chat(request: Request) -> Response:
    body = await request.json()
    names = {t.get("function", {}).get("name") for t in body.get("tools") or []}
    calls, content, tail = _plan(body.get("model", "steps-5"), body.get("messages", []), "final_answer" in names)
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    if not body.get("stream"):
        message: dict[str, object] = {"role": "assistant", "content": content or None}
        if calls:
            message["tool_calls"] = calls
        return JSONResponse({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": usage,
        })  # fmt: skip

    def chunk(delta: dict[str, object], finish: str | None = None) -> str:
        data = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
        return f"data: {json.dumps(data)}\n\n"

    async def events():
        yield chunk({"role": "assistant", "content": ""})
        for i, c in enumerate(calls):
            f = c["function"]
            yield chunk({"tool_calls": [{"index": i, "id": c["id"], "type": "function",
                                         "function": {"name": f["name"], "arguments": ""}}]})  # fmt: skip
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": f["arguments"]}}]})
        if content:
            yield chunk({"content": content})
        steps = int(tail / 0.05)
        for _ in range(steps):
            await asyncio.sleep(0.05)
            yield chunk({"content": " and more"})
        yield chunk({}, "tool_calls" if calls else "stop")
        yield f"data: {json.dumps({'id': 'chatcmpl-1', 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


app = Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])])

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="error", access_log=False, backlog=4096)
