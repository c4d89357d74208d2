import base64
import itertools
import json
import logging
import socket

import anyio
import pytest

from agentkit import (
    Agent,
    CompletionDone,
    ModelError,
    ReasoningDelta,
    RemoteModel,
    Sampling,
    TextDelta,
    ToolCallReady,
    ToolCallStarted,
)
from agentkit.testing import check_transcript
from tests.scripted_server import Reply, ScriptedServer, call, chunk, completion
from tests.test_agent import QUESTION, get_current_temperature, get_temperature_date

TOOLS = [get_current_temperature, get_temperature_date]
SF = {"location": "San Francisco, CA, USA"}
pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("owned_by", "server"),
    [("lmdeploy", "lmdeploy"), ("vllm", "vllm"), ("sglang", "sglang"), ("llamacpp", "llamacpp"),
     ("library", "ollama"), ("openai", "openai"), ("someone", "openai")],
)  # fmt: skip
async def test_auto_detects_the_server_and_model(owned_by, server):
    with ScriptedServer(owned_by=owned_by, model="internlm/Intern-S1") as srv:
        srv.script(Reply(body=completion("hi")))
        model = RemoteModel(srv.url)
        assert (await model.complete([{"role": "user", "content": "x"}])).content == "hi"
        assert model.server == server and model.model == "internlm/Intern-S1"
        assert srv.requests[0]["model"] == "internlm/Intern-S1"


async def test_explicit_server_wins():
    with ScriptedServer(owned_by="vllm") as srv:
        srv.script(Reply(body=completion("hi")))
        model = RemoteModel(srv.url, server="lmdeploy", model="m")
        await model.complete([{"role": "user", "content": "x"}], thinking=False)
        assert model.server == "lmdeploy"
        assert srv.requests[0]["enable_thinking"] is False


@pytest.mark.parametrize(
    ("server", "expected", "absent"),
    [
        ("lmdeploy", {"chat_template_kwargs": {"enable_thinking": False}, "enable_thinking": False,
                      "spaces_between_special_tokens": False, "top_k": 50, "min_p": 0.0}, []),
        ("vllm", {"chat_template_kwargs": {"enable_thinking": False}, "top_k": 50, "min_p": 0.0}, ["enable_thinking"]),
        ("sglang", {"chat_template_kwargs": {"enable_thinking": False}, "top_k": 50}, ["reasoning_effort"]),
        ("ollama", {"reasoning_effort": "none"}, ["top_k", "min_p", "chat_template_kwargs"]),
        ("openai", {}, ["top_k", "min_p", "chat_template_kwargs", "reasoning_effort", "enable_thinking"]),
    ],
)  # fmt: skip
async def test_each_server_gets_its_dialect(server, expected, absent):
    with ScriptedServer() as srv:
        srv.script(Reply(body=completion("ok")))
        model = RemoteModel(srv.url, server=server, model="m", sampling=Sampling(temperature=0.7, top_p=1.0, top_k=50, min_p=0.0))
        await model.complete([{"role": "user", "content": "x"}], tools=TOOLS, thinking=False,
                             tool_choice="required", max_tokens=100)  # fmt: skip
        sent = srv.requests[0]
        for key, value in expected.items():
            assert sent[key] == value, key
        for key in absent:
            assert key not in sent, key
        assert sent["temperature"] == 0.7 and sent["max_tokens"] == 100 and sent["tool_choice"] == "required"
        assert [t["function"]["name"] for t in sent["tools"]] == ["get_current_temperature", "get_temperature_date"]


async def test_named_tool_choice_and_thinking_on():
    with ScriptedServer() as srv:
        srv.script(Reply(body=completion("ok")))
        await RemoteModel(srv.url, server="vllm", model="m").complete(
            [{"role": "user", "content": "x"}], tools=TOOLS, thinking=True, tool_choice="get_temperature_date"
        )
        sent = srv.requests[0]
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_temperature_date"}}
        assert sent["chat_template_kwargs"] == {"enable_thinking": True}


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_from_either_field_and_parsed_calls(field):
    with ScriptedServer() as srv:
        srv.script(Reply(body=completion("", reasoning="thinking...", reasoning_field=field,
                                          tool_calls=[call("get_current_temperature", SF)], finish="tool_calls")))  # fmt: skip
        c = await RemoteModel(srv.url).complete([{"role": "user", "content": QUESTION}], tools=TOOLS)
        assert c.reasoning == "thinking..."
        assert [(t.id, t.name, json.loads(t.arguments)) for t in c.tool_calls] == [("call_1", "get_current_temperature", SF)]
        assert c.finish_reason == "tool_calls" and c.usage.prompt_tokens == 11


async def test_raw_text_from_a_server_without_parsers_is_parsed():
    raw = ('The user wants SF.</think>Checking.<|action_start|><|plugin|>\n{"name": "get_current_temperature", '
           '"parameters": {"location": "San Francisco, CA, USA"}}<|action_end|>')  # fmt: skip
    qwen = '<think>hmm</think><tool_call>\n{"name": "get_current_temperature", "arguments": {"location": "San Francisco, CA, USA"}}\n</tool_call>'
    with ScriptedServer(owned_by="vllm") as srv:
        srv.script(Reply(body=completion(raw)), Reply(body=completion(qwen)))
        model = RemoteModel(srv.url)
        for expected_reasoning, expected_content in [("The user wants SF.", "Checking."), ("hmm", "")]:
            c = await model.complete([{"role": "user", "content": QUESTION}], tools=TOOLS)
            assert c.reasoning == expected_reasoning and c.content == expected_content
            assert [(t.name, json.loads(t.arguments)) for t in c.tool_calls] == [("get_current_temperature", SF)]
            assert c.tool_calls[0].id.startswith("call_")


async def test_stream_fragments_by_index_like_vllm():
    name_first = [
        chunk({"role": "assistant", "reasoning": "let me "}), chunk({"reasoning": "see"}),
        chunk({"tool_calls": [{"index": 0, "id": "chatcmpl-tool-1", "type": "function",
                               "function": {"name": "get_current_temperature", "arguments": ""}}]}),
        *[chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
          for piece in ['{"loca', 'tion": "San Francisco', ', CA, USA"}']],
        chunk({"tool_calls": [{"index": 1, "id": "chatcmpl-tool-2", "type": "function",
                               "function": {"name": "get_temperature_date", "arguments": '{"location": "SF", '}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '"date": "2024-11-15"}'}}]}),
        chunk({}, finish="tool_calls"),
        {"id": "x", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}},
    ]  # fmt: skip
    with ScriptedServer(owned_by="vllm") as srv:
        srv.script(Reply(chunks=name_first))
        events = [e async for e in RemoteModel(srv.url).stream([{"role": "user", "content": QUESTION}], tools=TOOLS)]
    final = events[-1].completion
    assert isinstance(events[-1], CompletionDone)
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == final.reasoning == "let me see"
    assert [(c.id, c.name) for c in final.tool_calls] == [("chatcmpl-tool-1", "get_current_temperature"),
                                                          ("chatcmpl-tool-2", "get_temperature_date")]  # fmt: skip
    assert json.loads(final.tool_calls[0].arguments) == SF
    ready = [i for i, e in enumerate(events) if isinstance(e, ToolCallReady)]
    assert len(ready) == 2 and ready[0] < ready[1] < len(events) - 1
    assert final.usage.completion_tokens == 9 and final.finish_reason == "tool_calls"


async def test_stream_whole_calls_missing_and_duplicate_ids_like_ollama():
    chunks = [
        chunk({"content": "Sure."}),
        chunk({"tool_calls": [call("get_current_temperature", SF, cid=None, index=None)]}),
        chunk({"tool_calls": [call("get_temperature_date", {**SF, "date": "2024-11-15"}, cid="dup", index=1)]}),
        chunk({"tool_calls": [call("get_current_temperature", {"location": "Paris"}, cid="dup", index=2)]}),
        chunk({}, finish="stop"),
    ]
    with ScriptedServer(owned_by="library") as srv:
        srv.script(Reply(chunks=chunks))
        events = [e async for e in RemoteModel(srv.url).stream([{"role": "user", "content": QUESTION}], tools=TOOLS)]
    final = events[-1].completion
    assert final.content == "Sure." and "".join(e.text for e in events if isinstance(e, TextDelta)) == "Sure."
    ids = [c.id for c in final.tool_calls]
    assert len(ids) == 3 and len(set(ids)) == 3 and ids[1] == "dup"
    assert [c.name for c in final.tool_calls] == ["get_current_temperature", "get_temperature_date", "get_current_temperature"]


async def test_stream_parts_without_index_are_told_apart_by_id():
    parts = [
        {"id": "a", "type": "function", "function": {"name": "get_current_temperature", "arguments": '{"location": "SF"}'}},
        {"id": "b", "type": "function", "function": {"name": "get_temperature_date", "arguments": '{"location": "SF", '}},
        {"function": {"arguments": '"date": '}},  # no id, no index: the latest call goes on
        {"id": "b", "function": {"arguments": '"2024-11-15"}'}},  # its own id again: the same call
    ]
    with ScriptedServer(owned_by="library") as srv:
        srv.script(Reply(chunks=[chunk({"tool_calls": [p]}) for p in parts]))
        events = [e async for e in RemoteModel(srv.url).stream([{"role": "user", "content": QUESTION}], tools=TOOLS)]
    final = events[-1].completion
    assert [(c.id, c.name, json.loads(c.arguments)) for c in final.tool_calls] == [
        ("a", "get_current_temperature", {"location": "SF"}),
        ("b", "get_temperature_date", {"location": "SF", "date": "2024-11-15"}),
    ]
    assert final.errors == []


async def test_stream_of_raw_markup_is_parsed():
    text = 'Hi <tool_call>\n{"name": "get_current_temperature", "arguments": {"location": "San Francisco, CA, USA"}}\n</tool_call>'
    chunks = [chunk({"content": text[i : i + 7]}) for i in range(0, len(text), 7)]
    with ScriptedServer(owned_by="sglang") as srv:
        srv.script(Reply(chunks=chunks))
        events = [e async for e in RemoteModel(srv.url).stream([{"role": "user", "content": "x"}], tools=TOOLS)]
    final = events[-1].completion
    assert final.content == "Hi" and [json.loads(c.arguments) for c in final.tool_calls] == [SF]


async def test_retries_server_errors_before_streaming():
    chunks = [chunk({"content": "fin"}), chunk({"content": "ally"}), chunk({}, finish="stop")]
    with ScriptedServer() as srv:
        srv.script(
            Reply(status=503, body={"error": {"message": "busy"}}, headers={"retry-after": "0"}),
            Reply(status=429, body={"error": {"message": "slow down"}}, headers={"retry-after": "0"}),
            Reply(chunks=chunks),
        )
        model = RemoteModel(srv.url, server="vllm", model="m", max_retries=2)
        requests_at_first_event = None
        events = []
        # Thinking off: the content starts as content and streams piece by piece.
        async for event in model.stream([{"role": "user", "content": "x"}], thinking=False):
            if requests_at_first_event is None:
                requests_at_first_event = len(srv.requests)
            events.append(event)
    # Both failures were retried before the first event, and the text arrived once.
    assert requests_at_first_event == 3 and len(srv.requests) == 3
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["fin", "ally"]
    assert events[-1].completion.content == "finally"


SECRET = "sk-verysecretkey123"


def _no_secret_in(exc: BaseException) -> None:
    seen = exc
    while seen is not None:  # the whole chain, as a logger or an error tracker would walk it
        assert SECRET not in str(seen) and SECRET not in repr(seen)
        assert SECRET not in str(getattr(seen, "body", "") or "")
        seen = seen.__cause__ or seen.__context__


@pytest.mark.parametrize("where", ["status", "body200", "stream", "notjson"])
async def test_a_key_echoed_by_the_server_is_redacted(where, caplog):
    echo = {"error": {"message": f"invalid api key {SECRET} for this model", "code": 401}}
    reply = {
        "status": Reply(status=401, body=echo),
        "body200": Reply(body=echo),
        "stream": Reply(chunks=[chunk({"content": "Hel"}), echo]),
        "notjson": Reply(body=f"<html>bad gateway for Bearer {SECRET}</html>"),
    }[where]
    with ScriptedServer() as srv, caplog.at_level(logging.DEBUG):
        srv.script(reply)
        model = RemoteModel(srv.url, server="vllm", model="m", api_key=SECRET, max_retries=0)
        with pytest.raises(ModelError) as info:
            if where == "stream":
                async for _ in model.stream([{"role": "user", "content": "x"}]):
                    pass
            else:
                await model.complete([{"role": "user", "content": "x"}])
        assert srv.headers[0]["authorization"] == f"Bearer {SECRET}"  # the key did go to the server
    _no_secret_in(info.value)
    text = str(info.value) + (info.value.body or "")
    assert "key *** for" in text or "for ***<" in text  # the server's message is kept, the key replaced
    assert SECRET not in repr(model) and SECRET not in caplog.text


async def test_errors_without_a_body_and_short_keys(caplog):
    with ScriptedServer() as srv:
        srv.script(Reply(chunks=[{"id": "x", "choices": []}]), Reply(status=401, body={"error": {"message": "no abcd"}}))
        model = RemoteModel(srv.url, server="vllm", model="m", api_key=SECRET)
        with pytest.raises(ModelError, match="no choices") as info:  # nothing to redact: still a ModelError
            async for _ in model.stream([{"role": "user", "content": "x"}]):
                pass
        assert info.value.body is None
        short = RemoteModel(srv.url, server="vllm", model="m", api_key="abcd")
        with pytest.raises(ModelError) as info:
            await short.complete([{"role": "user", "content": "x"}])
        assert "abcd" not in str(info.value) and "no ***" in (info.value.body or "")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    refused = RemoteModel(f"http://127.0.0.1:{port}/v1", server="vllm", model="m", api_key=SECRET, max_retries=0)
    with pytest.raises(ModelError, match="Connection") as info:
        await refused.complete([{"role": "user", "content": "x"}])
    assert info.value.body is None


async def test_client_error_is_a_model_error_with_the_servers_message():
    with ScriptedServer() as srv:
        srv.script(Reply(status=400, body={"error": {"message": "bad request: tools are invalid"}}))
        model = RemoteModel(srv.url, server="vllm", model="m", api_key=SECRET)
        with pytest.raises(ModelError) as info:
            await model.complete([{"role": "user", "content": "x"}])
        assert info.value.status == 400 and "tools are invalid" in (info.value.body or "")


def _strings_reachable(obj, depth=6, seen=None):
    """Every str reachable from `obj` through instance dicts, mappings and sequences."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth < 0:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings_reachable(k, depth - 1, seen)
            yield from _strings_reachable(v, depth - 1, seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            yield from _strings_reachable(v, depth - 1, seen)
    elif hasattr(obj, "__dict__"):
        yield from _strings_reachable(vars(obj), depth - 1, seen)


async def test_the_key_is_not_in_the_instance_in_plain_text(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-environment-key-456")
    with ScriptedServer() as srv:
        srv.script(Reply(body=completion("ok")))
        model = RemoteModel(srv.url, server="vllm", model="m", api_key=SECRET)
        await model.complete([{"role": "user", "content": "x"}])  # the client exists now
        assert srv.headers[0]["authorization"] == f"Bearer {SECRET}"
        assert model._clients  # the walk below goes through the openai client too
        strings = list(_strings_reachable(model))
        assert not [s for s in strings if SECRET in s or "sk-environment-key-456" in s]
        assert SECRET not in repr(vars(model)) and SECRET not in repr(model)
        await model.aclose()


@pytest.mark.parametrize("api_key", [None, "sk-given"])
async def test_the_environments_key_goes_only_to_openai(monkeypatch, api_key):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-environment-key-456")
    with ScriptedServer() as srv:
        srv.script(Reply(body=completion("ok")), Reply(body=completion("ok")))
        model = RemoteModel(srv.url, model="m", api_key=api_key)  # server="auto": /models as well
        await model.complete([{"role": "user", "content": "x"}])
        assert len(srv.headers) == len(srv.models_headers) == 1
        for headers in (srv.models_headers[0], srv.headers[0]):
            assert headers.get("authorization") == ("Bearer sk-given" if api_key else "Bearer EMPTY")


@pytest.mark.parametrize(
    ("base_url", "gets_it"),
    [("https://api.openai.com/v1", True), ("https://API.openai.com:443/v1", True),
     ("http://api.openai.com/v1", False), ("https://api.openai.com.example.net/v1", False),
     ("http://127.0.0.1:8000/v1", False), ("https://example.com/openai.com/v1", False)],
)  # fmt: skip
async def test_which_urls_get_the_environments_key(monkeypatch, base_url, gets_it):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-environment-key-456")
    model = RemoteModel(base_url, server="openai", model="m")
    expected = {"Authorization": "Bearer sk-environment-key-456"} if gets_it else {}
    assert model._auth_headers() == expected


async def test_a_cut_stream_is_a_model_error_with_what_was_received():
    chunks = [chunk({"content": "Hello "}), chunk({"content": "wor"}), chunk({"content": "ld"})]
    with ScriptedServer() as srv:
        srv.script(Reply(chunks=chunks, cut_after=2))
        with pytest.raises(ModelError) as info:
            async for _ in RemoteModel(srv.url, server="vllm", model="m").stream([{"role": "user", "content": "x"}]):
                pass
        assert info.value.partial.content == "Hello wor"


async def test_messages_out_parts_and_reasoning(tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG fake")
    history = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "a", "reasoning_content": "old"},
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image", "path": str(image)},
                                     {"type": "video", "url": "http://x/v.mp4"}]},
        {"role": "assistant", "content": "", "reasoning_content": "current", "tool_calls": [call("f", {})]},
        {"role": "tool", "tool_call_id": "call_1", "name": "f", "content": "1"},
    ]  # fmt: skip
    with ScriptedServer() as srv:
        srv.script(Reply(body=completion("ok")))
        await RemoteModel(srv.url, server="vllm", model="m").complete(history)
        sent = srv.requests[0]["messages"]
    assert "reasoning_content" not in sent[1] and sent[3]["reasoning_content"] == "current"
    parts = sent[2]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()}}
    assert parts[2] == {"type": "video_url", "video_url": {"url": "http://x/v.mp4"}}


@pytest.mark.parametrize("streaming", [False, True])
async def test_agent_end_to_end_over_http(streaming):
    with ScriptedServer(owned_by="lmdeploy") as srv:
        first = completion("", reasoning="need both", tool_calls=[
            call("get_current_temperature", SF, cid="a"),
            call("get_temperature_date", {**SF, "date": "2024-11-15"}, cid="b", index=1)], finish="tool_calls")  # fmt: skip
        final = completion("26.1 now, 25.9 tomorrow.")
        if streaming:
            msg = first["choices"][0]["message"]
            srv.script(
                Reply(chunks=[chunk({"reasoning_content": "need both"}), chunk({"tool_calls": msg["tool_calls"]})]),
                Reply(chunks=[chunk({"content": "26.1 now, "}), chunk({"content": "25.9 tomorrow."})]),
            )
        else:
            srv.script(Reply(body=first), Reply(body=final))
        agent = Agent(RemoteModel(srv.url), TOOLS, thinking=lambda turn: turn == 0)
        if streaming:
            events = [e async for e in agent.stream(QUESTION)]
            result = events[-1].result
        else:
            result = await agent.run(QUESTION)
        check_transcript(result.messages)
        assert result.output == "26.1 now, 25.9 tomorrow."
        assert [r["chat_template_kwargs"]["enable_thinking"] for r in srv.requests] == [True, False]
        tool_msgs = [m for m in srv.requests[1]["messages"] if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tool_msgs] == ["a", "b"]


def test_usable_from_several_event_loops_in_turn():
    with ScriptedServer() as srv:
        srv.script(Reply(body=completion("one")), Reply(body=completion("two")))
        agent = Agent(RemoteModel(srv.url, server="vllm", model="m"))
        assert agent.run_sync("x").output == "one"
        assert agent.run_sync("y").output == "two"


async def test_many_concurrent_calls_share_one_client():
    with ScriptedServer() as srv:
        srv.default = Reply(body=completion("ok"))
        model = RemoteModel(srv.url, server="vllm", model="m")
        results = []

        async def one():
            results.append((await model.complete([{"role": "user", "content": "x"}])).content)

        async with anyio.create_task_group() as tg:
            for _ in range(200):
                tg.start_soon(one)
        assert results == ["ok"] * 200 and len(model._clients) == 1
        (client,) = model._clients.values()
        await model.aclose()
        assert client.is_closed() and model._clients == {}


# --- a vLLM started without tool-parser flags (the Intern-S1 guide's command) --------------------

RAW_CALL = ('<|action_start|><|plugin|>\n{"name": "get_current_temperature", '
            '"parameters": {"location": "San Francisco, CA, USA"}}<|action_end|>')  # fmt: skip


async def _ask(model, streaming, **kw):
    messages = [{"role": "user", "content": QUESTION}]
    if streaming:
        events = [e async for e in model.stream(messages, tools=TOOLS, **kw)]
        return events[-1].completion
    return await model.complete(messages, tools=TOOLS, **kw)


def _fallback_logs(caplog):
    return [r for r in caplog.records if r.name == "agentkit" and "tool-call parser" in r.getMessage()]


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_parserless_vllm_gets_the_tools_as_text_and_the_calls_are_parsed(streaming, caplog):
    def reply():
        if streaming:
            return Reply(chunks=[chunk({"content": RAW_CALL[i : i + 5]}) for i in range(0, len(RAW_CALL), 5)])
        return Reply(body=completion(RAW_CALL))

    with ScriptedServer(owned_by="vllm", tool_parser=False) as srv, caplog.at_level(logging.INFO, "agentkit"):
        srv.script(reply(), reply(), reply())
        model = RemoteModel(srv.url)
        for _ in range(2):
            c = await _ask(model, streaming)
            assert [(t.name, json.loads(t.arguments)) for t in c.tool_calls] == [("get_current_temperature", SF)]
        c = await _ask(model, streaming, tool_choice="auto")
        assert len(c.tool_calls) == 1
    # One refused request, then every request sends the tools with tool_choice "none".
    assert [r.get("tool_choice") for r in srv.requests] == [None, "none", "none", "none"]
    assert all(len(r["tools"]) == 2 for r in srv.requests)
    # vLLM would drop the markers from the text as special tokens: they must come back.
    assert all(r["skip_special_tokens"] is False for r in srv.requests[1:])
    (record,) = _fallback_logs(caplog)
    assert srv.url in record.getMessage() and "--tool-call-parser" in record.getMessage()


async def test_the_fallback_is_remembered_per_server_and_logged_once_under_concurrency(caplog):
    with ScriptedServer(owned_by="vllm", tool_parser=False) as srv, caplog.at_level(logging.INFO, "agentkit"):
        srv.default = Reply(body=completion(RAW_CALL))
        model = RemoteModel(srv.url, server="vllm", model="m")
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(_ask, model, False)
        refused = sum(r.get("tool_choice") is None for r in srv.requests)
        assert len(srv.requests) == 20 + refused and 1 <= refused <= 20
        # Another server's model knows nothing of it.
        with ScriptedServer(owned_by="vllm") as other:
            other.script(Reply(body=completion("hi")))
            await _ask(RemoteModel(other.url, server="vllm", model="m"), False)
            assert "tool_choice" not in other.requests[0] and "skip_special_tokens" not in other.requests[0]
    assert len(_fallback_logs(caplog)) == 1


@pytest.mark.parametrize("choice", ["required", "get_temperature_date"])
async def test_a_forced_choice_refused_for_want_of_a_parser_falls_back_too(choice, caplog):
    with ScriptedServer(owned_by="vllm", tool_parser=False) as srv, caplog.at_level(logging.INFO, "agentkit"):
        srv.default = Reply(body=completion(RAW_CALL))
        model = RemoteModel(srv.url)
        for _ in range(2):
            c = await _ask(model, False, tool_choice=choice)
            assert [t.name for t in c.tool_calls] == ["get_current_temperature"]
        forced = "required" if choice == "required" else {"type": "function", "function": {"name": choice}}
        assert [r.get("tool_choice") for r in srv.requests] == [forced, "none", "none"]
    (record,) = _fallback_logs(caplog)
    assert "cannot force a call" in record.getMessage()


async def test_none_goes_to_a_parserless_vllm_as_it_is(caplog):
    with ScriptedServer(owned_by="vllm", tool_parser=False) as srv, caplog.at_level(logging.INFO, "agentkit"):
        srv.script(Reply(body=completion("No tools needed.")))
        c = await _ask(RemoteModel(srv.url), False, tool_choice="none")
        assert c.content == "No tools needed."
        assert len(srv.requests) == 1 and srv.requests[0]["tool_choice"] == "none"
        assert "skip_special_tokens" not in srv.requests[0]
    assert _fallback_logs(caplog) == []


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("choice", [None, "required", "get_temperature_date"])
async def test_a_vllm_with_a_parser_gets_the_choice_as_it_is(choice, streaming):
    with ScriptedServer(owned_by="vllm") as srv:
        the_call = call("get_temperature_date", {**SF, "date": "2024-11-15"})
        srv.script(Reply(chunks=[chunk({"tool_calls": [the_call]})]) if streaming
                   else Reply(body=completion("", tool_calls=[the_call])))  # fmt: skip
        c = await _ask(RemoteModel(srv.url), streaming, tool_choice=choice)
        assert [t.name for t in c.tool_calls] == ["get_temperature_date"]
        assert len(srv.requests) == 1 and "skip_special_tokens" not in srv.requests[0]
        assert srv.requests[0].get("tool_choice") == (
            None if choice is None else choice if choice == "required"
            else {"type": "function", "function": {"name": choice}}
        )  # fmt: skip


async def test_other_client_errors_are_not_taken_for_a_missing_parser():
    with ScriptedServer(owned_by="vllm") as srv:
        srv.default = Reply(status=400, body={"error": {"message": "tools: not a list of functions"}})
        model = RemoteModel(srv.url)
        for _ in range(2):
            with pytest.raises(ModelError) as info:
                await _ask(model, False)
            assert info.value.status == 400
        assert [r.get("tool_choice") for r in srv.requests] == [None, None]


async def test_a_refusal_after_the_fallback_is_an_error_not_a_loop():
    with ScriptedServer(owned_by="vllm", tool_parser=False) as srv:
        srv.script(Reply(status=400, body={"error": {"message": "prompt too long"}}))
        with pytest.raises(ModelError, match="prompt too long"):
            await _ask(RemoteModel(srv.url), True)
        assert [r.get("tool_choice") for r in srv.requests] == [None, "none"]


@pytest.mark.parametrize("streaming", [False, True])
async def test_agent_loop_on_a_parserless_vllm(streaming, caplog):
    with ScriptedServer(owned_by="vllm", tool_parser=False) as srv, caplog.at_level(logging.INFO, "agentkit"):
        final = "It is 26.1 °C in San Francisco."
        if streaming:
            srv.script(Reply(chunks=[chunk({"content": RAW_CALL})]), Reply(chunks=[chunk({"content": final})]))
        else:
            srv.script(Reply(body=completion(RAW_CALL)), Reply(body=completion(final)))
        agent = Agent(RemoteModel(srv.url), TOOLS)
        if streaming:
            result = [e async for e in agent.stream(QUESTION)][-1].result
        else:
            result = await agent.run(QUESTION)
    check_transcript(result.messages)
    assert result.output == final
    tool = [m for m in result.messages if m["role"] == "tool"]
    assert len(tool) == 1 and tool[0]["name"] == "get_current_temperature"
    assert [r.get("tool_choice") for r in srv.requests] == [None, "none", "none"]
    assert len(_fallback_logs(caplog)) == 1


# --- the options a RemoteModel takes --------------------------------------------------------------


async def test_options_are_declared_and_passed_through():
    from agentkit import UserError

    assert {"temperature", "top_p", "top_k", "min_p", "max_tokens", "stop", "seed", "extra_body"} <= RemoteModel.options
    with ScriptedServer() as srv:
        srv.default = Reply(body=completion("ok"))
        model = RemoteModel(srv.url, server="vllm", model="m")
        assert model.options == RemoteModel.options
        await model.complete([{"role": "user", "content": "x"}], stop=["\n"], seed=3, presence_penalty=0.5,
                             response_format={"type": "json_object"}, temperature=0.1, top_k=None,
                             extra_body={"guided_choice": ["a", "b"], "priority": 2})  # fmt: skip
        sent = srv.requests[0]
        assert sent["stop"] == ["\n"] and sent["seed"] == 3 and sent["presence_penalty"] == 0.5
        assert sent["response_format"] == {"type": "json_object"} and sent["temperature"] == 0.1
        assert sent["guided_choice"] == ["a", "b"] and sent["priority"] == 2
        assert "extra_body" not in sent and "top_k" not in sent
        for bad in ({"approve": print}, {"system": "be brief"}, {"max_tool_output": 10}, {"extra_body": [1]}):
            with pytest.raises(UserError, match=next(iter(bad))):
                await model.complete([{"role": "user", "content": "x"}], **bad)
            with pytest.raises(UserError, match=next(iter(bad))):
                model.stream([{"role": "user", "content": "x"}], **bad)  # at once, before iterating
        assert len(srv.requests) == 1  # nothing was sent for the bad ones


# --- streaming a long call is linear ---------------------------------------------------------------


def _assembler():
    """A stream assembler whose content starts as content (no raw markup in these tests)."""
    from agentkit import _chunks
    from agentkit.formats import AUTO

    return _chunks.Assembler(lambda _reasoned: AUTO.stream_parser(in_reasoning=False))


class _CountingStr(str):
    """A fragment that counts the characters copied when something is concatenated onto it."""

    copied = 0

    def __radd__(self, other):
        _CountingStr.copied += len(other) + len(self)
        return str.__add__(other, self)

    def __add__(self, other):
        _CountingStr.copied += len(self) + len(other)
        return str.__add__(self, other)


@pytest.mark.parametrize("ending", ["x", "}"])
def test_assembling_a_long_streamed_call_is_linear(monkeypatch, ending):
    from agentkit import _chunks

    parsed = {"chars": 0}
    real_loads = json.loads

    class CountingJson:
        dumps = staticmethod(json.dumps)
        JSONDecodeError = json.JSONDecodeError

        @staticmethod
        def loads(text, *a, **k):
            parsed["chars"] += len(text)
            return real_loads(text, *a, **k)

    monkeypatch.setattr(_chunks, "json", CountingJson)

    def work(n: int) -> tuple[int, int]:
        _CountingStr.copied, parsed["chars"] = 0, 0
        # A string value whose 4-character pieces all end in `ending` (`}` tempts a completeness check).
        body = '{"text": "' + ("aaa" + ending) * (n // 4) + '"}'
        assembler = _assembler()
        first = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}
        events = assembler.feed({"choices": [{"delta": {"tool_calls": [first]}}]})
        for i in range(0, len(body), 4):
            part = {"index": 0, "function": {"arguments": _CountingStr(body[i : i + 4])}}
            events += assembler.feed({"choices": [{"delta": {"tool_calls": [part]}}]})
        events += assembler.finish()
        (call,) = assembler.completion().tool_calls
        assert call.arguments == body
        assert "".join(e.text for e in events if type(e).__name__ == "ToolCallArgsDelta") == body
        return _CountingStr.copied, parsed["chars"]

    small, large = work(100_000), work(400_000)
    for few, many in zip(small, large, strict=True):
        assert many <= 4 * few + 1000, (small, large)  # linear: 4x the input, at most 4x the work
    assert large[0] <= 2 * 400_000 and large[1] <= 3 * 400_000


@pytest.mark.parametrize(
    "body",
    ['{"a": "}"}', '{"a": "\\"}{"}', '{"a": {"b": [1, "]", {"c": "\\\\"}]}, "d": "x\\\\\\"}"}', ' \n{"k": {}}',
     '{"a": "\\u007d"}'],
)  # fmt: skip
def test_a_streamed_call_is_ready_exactly_when_its_object_closes(body):

    assert isinstance(json.loads(body), dict)
    for cut in range(1, len(body)):  # every split into two pieces, and one piece per character
        for pieces in ([body[:cut], body[cut:]], list(body)) if cut == 1 else ([body[:cut], body[cut:]],):
            assembler = _assembler()
            first = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}
            assembler.feed({"choices": [{"delta": {"tool_calls": [first]}}]})
            for n, piece in enumerate(pieces, 1):
                events = assembler.feed({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}}]})
                ready = [e for e in events if isinstance(e, ToolCallReady)]
                assert len(ready) == (n == len(pieces)), (pieces, n)
            assert ready[0].call.arguments == body


@pytest.mark.parametrize("body", ['[1]', '{"a": tru}', '{"a": 1]', '"{}"'])
def test_a_streamed_call_that_is_no_object_is_malformed_at_the_end(body):
    from agentkit import ToolCallMalformed

    assembler = _assembler()
    events = []
    for piece in [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}},
                  *({"index": 0, "function": {"arguments": ch}} for ch in body)]:  # fmt: skip
        events += assembler.feed({"choices": [{"delta": {"tool_calls": [piece]}}]})
    assert not [e for e in events if isinstance(e, (ToolCallReady, ToolCallMalformed))]
    events += assembler.finish()
    assert [type(e).__name__ for e in events if isinstance(e, (ToolCallReady, ToolCallMalformed))] == ["ToolCallMalformed"]
    assert assembler.completion().tool_calls == []


async def test_streamed_call_events_agree_with_the_final_calls():
    from agentkit import ToolCallArgsDelta, ToolCallOpened

    parts = [
        {"index": 0, "id": "c1", "type": "function", "function": {"name": "get_current"}},
        {"index": 0, "function": {"name": "_temperature"}},  # a name in pieces is whole before it is announced
        {"index": 0, "function": {"arguments": '{"location": '}},
        {"index": 0, "function": {"arguments": '"SF"}'}},
        {"index": 1, "id": "c2", "type": "function", "function": {"name": "get_temperature_date"}},  # no arguments
    ]
    with ScriptedServer(owned_by="vllm") as srv:
        srv.script(Reply(chunks=[chunk({"tool_calls": [p]}) for p in parts] + [chunk({}, finish="tool_calls")]))
        events = [e async for e in RemoteModel(srv.url).stream([{"role": "user", "content": QUESTION}], tools=TOOLS)]
    final = events[-1].completion
    assert [(c.id, c.name, c.arguments) for c in final.tool_calls] == [
        ("c1", "get_current_temperature", '{"location": "SF"}'), ("c2", "get_temperature_date", "{}")]  # fmt: skip
    opened = [e for e in events if isinstance(e, ToolCallOpened)]
    ready = [e for e in events if isinstance(e, ToolCallReady)]
    assert [(e.id, e.name) for e in opened] == [("c1", "get_current_temperature"), ("c2", "get_temperature_date")]
    assert [e.call for e in ready] == final.tool_calls
    for o, r, c in zip(opened, ready, final.tool_calls, strict=True):
        assert o.index == r.index >= 1000  # apart from calls parsed from raw markup (0, 1, ...)
        pieces = [e for e in events if isinstance(e, ToolCallArgsDelta) and e.index == o.index]
        assert "".join(e.text for e in pieces) == c.arguments
        assert events.index(o) < events.index(pieces[0]) and events.index(pieces[-1]) < events.index(r)
    assert len({o.index for o in opened}) == 2


# --- hostile servers (attacker review A) -----------------------------------------------------


@pytest.mark.parametrize("url", ["http://alice:s3cretpw@127.0.0.1:{port}/v1", "http://127.0.0.1:{port}/v1?key=s3cretkey"])
async def test_credentials_in_the_base_url_are_never_shown(url, caplog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = RemoteModel(url.format(port=port), server="vllm", model="m", max_retries=0, connect_timeout=1)
    assert "s3cret" not in repr(model) and f"127.0.0.1:{port}" in repr(model)
    caplog.set_level(logging.DEBUG, logger="agentkit")
    with pytest.raises(ModelError) as info:
        await Agent(model).run("hi")
    shown = f"{info.value} {info.value.body} {info.value.args}"
    assert f"127.0.0.1:{port}" in shown and "s3cret" not in shown
    assert "s3cret" not in caplog.text


_MARKUP = '<tool_call>\n{"name": "pay", "arguments": {"amount": 500}}\n</tool_call>'


def _pay_tool(paid):
    from agentkit import tool

    @tool
    def pay(amount: int) -> str:
        """Pay.

        Args:
            amount: How much.
        """
        paid.append(amount)
        return f"paid {amount}"

    return pay


@pytest.mark.parametrize("markup_first", [True, False])
async def test_a_call_in_tool_calls_and_left_in_the_content_runs_once(markup_first):
    paid: list[int] = []
    server_call = chunk({"tool_calls": [call("pay", {"amount": 500}, cid="call_b")]}, finish="tool_calls")
    streamed = [chunk({"content": _MARKUP}), server_call] if markup_first else [server_call, chunk({"content": _MARKUP})]
    with ScriptedServer() as srv:
        srv.script(
            # the same call also in a different key order and spacing: the same arguments
            Reply(body=completion(_MARKUP.replace('{"amount": 500}', '{ "amount":500 }'),
                                  tool_calls=[call("pay", {"amount": 500}, cid="call_a")], finish="tool_calls")),
            Reply(body=completion("Paid.")),
            Reply(chunks=streamed),
            Reply(chunks=[chunk({"content": "Paid."}, finish="stop")]),
        )  # fmt: skip
        agent = Agent(RemoteModel(srv.url, server="vllm", model="m", max_retries=0), [_pay_tool(paid)])
        result = await agent.run("Pay 500.")
        assert paid == [500]
        assert [c["id"] for c in result.messages[1]["tool_calls"]] == ["call_a"]
        assert "tool_call" not in (result.messages[1].get("content") or "")
        check_transcript(result.messages)
        ready, started = [], []
        async for event in agent.stream("Pay 500."):
            if isinstance(event, ToolCallReady):
                ready.append(event.call.id)
            if isinstance(event, ToolCallStarted):
                started.append(event.call.id)
        assert paid == [500, 500] and len(ready) == 1 and started == ready


async def test_two_equal_calls_of_one_kind_both_run():
    paid: list[int] = []
    two = [call("pay", {"amount": 500}, cid="a"), call("pay", {"amount": 500}, cid="b", index=1)]
    with ScriptedServer() as srv:
        srv.script(Reply(body=completion(_MARKUP + _MARKUP, finish="tool_calls")), Reply(body=completion("ok")),
                   Reply(body=completion("", tool_calls=two, finish="tool_calls")), Reply(body=completion("ok")))  # fmt: skip
        agent = Agent(RemoteModel(srv.url, server="vllm", model="m", max_retries=0), [_pay_tool(paid)])
        await agent.run("Pay twice.")
        await agent.run("Pay twice.")
    assert paid == [500] * 4


@pytest.mark.parametrize("streaming", [True, False])
async def test_a_response_that_never_ends_is_bounded_by_max_duration(streaming):
    endless = itertools.repeat(chunk({"content": "la "}))
    with ScriptedServer() as srv:
        srv.script(Reply(chunks=endless, chunk_delay=0.01) if streaming else
                   Reply(body=completion("late"), delay=3))  # fmt: skip  (a read timeout of 20 s never fires)
        model = RemoteModel(srv.url, server="vllm", model="m", max_retries=0, timeout=20, max_duration=1)
        agent = Agent(model)
        with anyio.fail_after(15):  # not a timing: the bound that says the run hung
            with pytest.raises(ModelError, match="max_duration") as info:
                if streaming:
                    async for _ in agent.stream("hi"):
                        pass
                else:
                    await agent.run("hi")
    check_transcript(info.value.messages)
    if streaming:
        assert info.value.partial is not None and info.value.partial.content.startswith("la la")


@pytest.mark.parametrize("bad", [0, -1, True, float("nan")])
def test_max_duration_must_be_a_positive_number(bad):
    from agentkit import UserError

    with pytest.raises(UserError, match="max_duration"):
        RemoteModel("http://127.0.0.1:9/v1", max_duration=bad)


async def test_a_sampling_seed_is_sent_and_a_seed_option_wins():
    with ScriptedServer() as srv:
        srv.script(Reply(body=completion("ok")), Reply(body=completion("ok")))
        model = RemoteModel(srv.url, server="vllm", model="m", sampling=Sampling(seed=7))
        await model.complete([{"role": "user", "content": "x"}])
        await model.complete([{"role": "user", "content": "x"}], seed=8)
        assert [r["seed"] for r in srv.requests] == [7, 8]
