"""Fault injection: what a server or a model can do wrong, over real HTTP (docs/errors.md).

Every case ends in one of two ways, both checked: the run finishes with a valid transcript, or
it raises a typed `ModelError` whose `.messages` is a valid transcript. Nothing hangs: each
test runs under a deadline.
"""

import gc
import json
import random
import socket
import threading
import time

import anyio
import pytest

from agentkit import Agent, ModelError, RemoteModel, TextDelta, ToolCallFinished
from agentkit.testing import check_transcript
from tests.scripted_server import Reply, ScriptedServer, call, chunk, completion
from tests.test_agent import get_current_temperature

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]
TOOLS = [get_current_temperature]
SF = {"location": "San Francisco"}
FINAL = completion("It is 26.1 °C.")


def model(srv: ScriptedServer, **kw) -> RemoteModel:
    kw.setdefault("max_retries", 2)
    return RemoteModel(srv.url, server="vllm", model="m", **kw)


async def run(srv, streaming=False, **kw):
    agent = Agent(model(srv, **kw), TOOLS)
    if streaming:
        events = [e async for e in agent.stream("weather?")]
        return events[-1].result, events
    return await agent.run("weather?"), []


# --- HTTP errors and retries ------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
@pytest.mark.parametrize("retry_after", [None, "0"])
@pytest.mark.parametrize("streaming", [False, True])
async def test_transient_errors_are_retried(status, retry_after, streaming):
    headers = {"retry-after": retry_after} if retry_after else {}
    with ScriptedServer() as srv:
        good = Reply(chunks=[chunk({"content": "It is "}), chunk({"content": "26.1 °C."})]) if streaming else Reply(body=FINAL)
        srv.script(Reply(status=status, body={"error": {"message": "try later"}}, headers=headers), good)
        agent = Agent(model(srv), TOOLS)
        if streaming:
            requests_at_first_event, texts = None, []
            async for event in agent.stream("weather?"):
                if requests_at_first_event is None:
                    requests_at_first_event = len(srv.requests)
                if isinstance(event, TextDelta):
                    texts.append(event.text)
            result = event.result
            assert requests_at_first_event == 2  # the retry came before anything was streamed
            assert "".join(texts) == "It is 26.1 °C."  # and nothing was streamed twice
        else:
            result = await agent.run("weather?")
        assert result.output == "It is 26.1 °C." and len(srv.requests) == 2


async def test_retries_are_bounded():
    with ScriptedServer() as srv:
        srv.default = Reply(status=503, body={"error": {"message": "overloaded"}}, headers={"retry-after": "0"})
        with pytest.raises(ModelError) as info:
            await run(srv, max_retries=2)
        assert info.value.status == 503 and "overloaded" in (info.value.body or "")
        assert len(srv.requests) == 3  # one try and two retries
        check_transcript(info.value.messages)


async def test_client_errors_are_not_retried():
    with ScriptedServer() as srv:
        srv.default = Reply(status=400, body={"error": {"message": "bad tools"}})
        with pytest.raises(ModelError) as info:
            await run(srv)
        assert info.value.status == 400 and len(srv.requests) == 1


async def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    agent = Agent(RemoteModel(f"http://127.0.0.1:{port}/v1", server="vllm", model="m", max_retries=1), TOOLS)
    start = time.perf_counter()
    with pytest.raises(ModelError, match="Connection"):
        await agent.run("x")
    assert time.perf_counter() - start < 20


async def test_slow_first_byte_times_out():
    with ScriptedServer() as srv:
        srv.default = Reply(body=FINAL, delay=3)
        start = time.perf_counter()
        with pytest.raises(ModelError, match=r"[Tt]ime"):
            await run(srv, timeout=0.5, max_retries=0)
        assert time.perf_counter() - start < 2.5


async def test_a_stalled_stream_times_out():
    with ScriptedServer() as srv:
        srv.script(Reply(chunks=[chunk({"content": "Hel"}), chunk({"content": "lo"})], chunk_delay=3))
        with pytest.raises(ModelError):
            await run(srv, streaming=True, timeout=0.5, max_retries=0)


# --- broken bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"id": "x", "choices": [], "usage": {}}, "no choices"),
        ({"error": {"message": "model overloaded", "code": 500}}, "model overloaded"),
    ],
)
async def test_empty_choices_and_an_error_body_with_200(body, words):
    with ScriptedServer() as srv:
        srv.script(Reply(body=body))
        with pytest.raises(ModelError, match=words) as info:
            await run(srv)
        check_transcript(info.value.messages)


async def test_invalid_json_chunk():
    with ScriptedServer() as srv:
        srv.script(Reply(chunks=[chunk({"content": "Hi"}), '{"choices": [{"delta": {"cont'], raw_chunks=True))
        with pytest.raises(ModelError, match="not JSON") as info:
            await run(srv, streaming=True)
        assert info.value.partial.content == "Hi"


@pytest.mark.parametrize("where", ["reasoning", "content", "arguments"])
async def test_stream_cut_in_the_middle(where):
    chunks = {
        "reasoning": [chunk({"reasoning": "Let me "}), chunk({"reasoning": "think"}), chunk({"reasoning": " more"})],
        "content": [chunk({"content": "It is "}), chunk({"content": "26"}), chunk({"content": ".1"})],
        "arguments": [chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                             "function": {"name": "get_current_temperature", "arguments": ""}}]}),
                      chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"loca'}}]}),
                      chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'tion": "SF"}'}}]})],
    }[where]  # fmt: skip
    with ScriptedServer() as srv:
        srv.script(Reply(chunks=chunks, cut_after=2))
        with pytest.raises(ModelError) as info:
            await run(srv, streaming=True)
        check_transcript(info.value.messages)
        partial = info.value.partial
        # Exactly what had arrived, in its own field, and nothing anywhere else.
        expected = {"reasoning": ("Let me think", ""), "content": (None, "It is 26"), "arguments": (None, "")}[where]
        assert (partial.reasoning, partial.content) == expected
        assert partial.tool_calls == [] and partial.errors == []  # half a call is neither run nor reported
        assert not [m for m in info.value.messages if m["role"] in ("assistant", "tool")]
        assert len(srv.requests) == 1  # tokens had been streamed: no retry


@pytest.mark.parametrize("reply", ["json", "no-choices", "error-event"])
async def test_a_stream_without_choices_is_an_error_not_an_empty_answer(reply):
    with ScriptedServer() as srv:
        srv.script({
            "json": Reply(body=FINAL),  # a plain JSON answer to a stream request: no events at all
            "no-choices": Reply(chunks=[{"id": "x", "choices": [], "usage": {"prompt_tokens": 1}}]),
            "error-event": Reply(chunks=[{"error": {"message": "boom"}}]),
        }[reply])  # fmt: skip
        with pytest.raises(ModelError, match="boom" if reply == "error-event" else "no choices") as info:
            await run(srv, streaming=True)
        check_transcript(info.value.messages)


# --- what a model writes wrong ------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True])
async def test_malformed_and_truncated_arguments_and_unknown_tools(streaming):
    bad_calls = [
        {"id": "a", "type": "function", "function": {"name": "get_current_temperature", "arguments": '{"location": "SF"'}},
        {"id": "b", "type": "function", "function": {"name": "get_current_temperature", "arguments": "[1]"}},
        {"id": "c", "type": "function", "function": {"name": "launch_rockets", "arguments": "{}"}},
        {"id": "d", "type": "function", "function": {"name": "get_current_temperature", "arguments": '{"location": 5}'}},
    ]  # fmt: skip
    with ScriptedServer() as srv:
        if streaming:
            first = Reply(chunks=[chunk({"tool_calls": [{**c, "index": i}]}) for i, c in enumerate(bad_calls)])
        else:
            first = Reply(body=completion("", tool_calls=bad_calls, finish="tool_calls"))
        srv.script(first, Reply(body=FINAL) if not streaming else Reply(chunks=[chunk({"content": "It is 26.1 °C."})]))
        result, events = await run(srv, streaming=streaming)
    check_transcript(result.messages)
    tool_msgs = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert len(tool_msgs) == 4
    assert any("no tool named 'launch_rockets'" in m for m in tool_msgs)
    assert any('location: 5 is not of type "string"' in m for m in tool_msgs)
    assert sum("could not be read" in m for m in tool_msgs) == 2  # the truncated and the non-object ones
    assert result.output == "It is 26.1 °C."
    # What went back to the server is valid JSON everywhere.
    for m in srv.requests[1]["messages"]:
        for c in m.get("tool_calls") or []:
            json.loads(c["function"]["arguments"])
    if streaming:
        assert sum(isinstance(e, ToolCallFinished) and e.error is not None for e in events) == 4


@pytest.mark.parametrize("streaming", [False, True])
async def test_missing_and_duplicate_ids(streaming):
    calls = [call("get_current_temperature", SF, cid=None, index=None),
             call("get_current_temperature", SF, cid="same", index=1),
             call("get_current_temperature", SF, cid="same", index=2)]  # fmt: skip
    with ScriptedServer() as srv:
        if streaming:
            first = Reply(chunks=[chunk({"tool_calls": [c]}) for c in calls])
        else:
            first = Reply(body=completion("", tool_calls=calls, finish="tool_calls"))
        srv.script(first, Reply(body=FINAL) if not streaming else Reply(chunks=[chunk({"content": "ok"})]))
        result, _ = await run(srv, streaming=streaming)
    check_transcript(result.messages)
    ids = [c["id"] for c in result.messages[1]["tool_calls"]]
    assert len(ids) == 3 and len(set(ids)) == 3 and "same" in ids


# --- many runs, random faults ---------------------------------------------------------------------


def _fault_reply(fault: str, stream: bool, attempt: int) -> Reply:
    good = [call("get_current_temperature", SF, cid=None)]
    if fault in ("500", "429") and attempt == 1:
        return Reply(status=int(fault), body={"error": {"message": fault}}, headers={"retry-after": "0"})
    if fault == "empty":
        return Reply(chunks=[{"id": "x", "choices": []}]) if stream else Reply(body={"choices": []})
    if fault == "errorbody":
        error = {"error": {"message": "boom"}}
        return Reply(chunks=[error]) if stream else Reply(body=error)
    if fault == "cut":
        return Reply(chunks=[chunk({"content": "a"}), chunk({"content": "b"})], cut_after=1)
    if fault == "badjson":
        return Reply(chunks=[chunk({"content": "a"}), "{nope"], raw_chunks=True)
    if fault == "badargs":
        good = [{"type": "function", "function": {"name": "get_current_temperature", "arguments": '{"loc'}}]
    if fault == "unknown":
        good = [call("nope", {}, cid=None)]
    if stream:
        return Reply(chunks=[chunk({"tool_calls": [{**c, "index": 0}]}) for c in good])
    return Reply(body=completion("", tool_calls=good, finish="tool_calls"))


# What each fault must produce: ("ok", what the tool message says) or ("error", the error's words).
_OUTCOMES = {
    "ok": ("ok", '"temperature": 26.1'), "500": ("ok", '"temperature": 26.1'), "429": ("ok", '"temperature": 26.1'),
    "badargs": ("ok", "could not be read"), "unknown": ("ok", "no tool named 'nope'"),
    "empty": ("error", "no choices"), "errorbody": ("error", "boom"),
    "cut": ("error", "streaming the response"), "badjson": ("error", "not JSON"),
}  # fmt: skip


@pytest.mark.timeout(300)  # a hang guard only: on a loaded 2-core machine 1000 runs take minutes
async def test_a_thousand_concurrent_runs_with_random_faults():
    import asyncio

    rng = random.Random(7)
    both = ["ok", "ok", "ok", "500", "429", "badargs", "unknown", "empty", "errorbody"]
    # Even runs stream (only a stream can be cut or carry a bad chunk); odd ones do not.
    faults = [rng.choice([*both, "cut", "badjson"] if i % 2 == 0 else both) for i in range(1000)]
    attempts = [0] * 1000

    def responder(body):
        run_id = int(body["messages"][0]["content"].split("#")[1])
        if any(m["role"] == "tool" for m in body["messages"]):
            if body.get("stream"):
                return Reply(chunks=[chunk({"content": "It is 26.1 °C."})])
            return Reply(body=FINAL)
        attempts[run_id] += 1
        return _fault_reply(faults[run_id], body.get("stream", False), attempts[run_id])

    threads_before = {t.ident for t in threading.enumerate()}
    tasks_before = len(asyncio.all_tasks())
    with ScriptedServer() as srv:
        srv.responder = responder
        # Generous bounds: a request that timed out would be an outcome no fault asked for.
        # Two retries: one for the scripted 500/429, one spare, since a thousand connections to one
        # loopback server now and then see a kept-alive connection closed as it is reused (an
        # APIConnectionError the client retries; it never reaches the responder, so the attempt
        # counts below still hold).
        shared = model(srv, max_retries=2, timeout=180, connect_timeout=180)
        agent = Agent(shared, TOOLS, max_turns=4)
        seen: dict[str, int] = {}

        async def one(i: int) -> None:
            question = f"weather? #{i}"
            kind, words = _OUTCOMES[faults[i]]
            try:
                if i % 2:
                    result = await agent.run(question)
                else:
                    result = [e async for e in agent.stream(question)][-1].result
            except ModelError as e:
                check_transcript(e.messages)
                assert kind == "error" and words in str(e), (i, faults[i], str(e))
                if faults[i] in ("cut", "badjson"):
                    assert e.partial.content == "a", (i, faults[i])
            else:
                check_transcript(result.messages)
                assert kind == "ok", (i, faults[i], result.output)
                assert result.output == "It is 26.1 °C."
                (tool_message,) = [m for m in result.messages if m["role"] == "tool"]
                assert words in tool_message["content"], (i, faults[i], tool_message)
            # Transient failures were retried once; nothing else was sent twice.
            assert attempts[i] == (2 if faults[i] in ("500", "429") else 1), (i, faults[i])
            seen[faults[i]] = seen.get(faults[i], 0) + 1

        with anyio.fail_after(240):
            async with anyio.create_task_group() as tg:
                for i in range(1000):
                    tg.start_soon(one, i)
        await shared.aclose()
    assert sum(seen.values()) == 1000 and set(seen) == set(_OUTCOMES)  # every run checked, every fault drawn
    # No task of ours outlives the runs, and no thread is left beyond the pools' idle workers.
    assert len(asyncio.all_tasks()) == tasks_before
    gc.collect()
    extra = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    # Only idle pool workers remain: anyio's (sync tools) and asyncio's default executor (DNS).
    assert all(name.startswith(("AnyIO worker thread", "asyncio_")) for name in extra), extra
