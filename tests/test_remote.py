import base64
import json
import logging

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


async def test_stream_of_raw_markup_is_parsed():
    text = 'Hi <tool_call>\n{"name": "get_current_temperature", "arguments": {"location": "San Francisco, CA, USA"}}\n</tool_call>'
    chunks = [chunk({"content": text[i : i + 7]}) for i in range(0, len(text), 7)]
    with ScriptedServer(owned_by="sglang") as srv:
        srv.script(Reply(chunks=chunks))
        events = [e async for e in RemoteModel(srv.url).stream([{"role": "user", "content": "x"}], tools=TOOLS)]
    final = events[-1].completion
    assert final.content == "Hi" and [json.loads(c.arguments) for c in final.tool_calls] == [SF]


async def test_retries_server_errors_before_streaming():
    with ScriptedServer() as srv:
        srv.script(
            Reply(status=503, body={"error": {"message": "busy"}}, headers={"retry-after": "0"}),
            Reply(status=429, body={"error": {"message": "slow down"}}, headers={"retry-after": "0"}),
            Reply(body=completion("finally")),
        )
        c = await RemoteModel(srv.url, server="vllm", model="m", max_retries=2).complete([{"role": "user", "content": "x"}])
        assert c.content == "finally" and len(srv.requests) == 3


async def test_client_error_is_a_model_error_without_the_key(caplog):
    secret = "sk-verysecretkey123"
    with ScriptedServer() as srv, caplog.at_level(logging.DEBUG):
        srv.script(Reply(status=400, body={"error": {"message": "bad request: tools are invalid"}}))
        model = RemoteModel(srv.url, server="vllm", model="m", api_key=secret)
        with pytest.raises(ModelError) as info:
            await model.complete([{"role": "user", "content": "x"}])
        assert info.value.status == 400 and "tools are invalid" in (info.value.body or "")
        assert srv.headers[0]["authorization"] == f"Bearer {secret}"
    assert secret not in str(info.value) and secret not in repr(model) and secret not in caplog.text


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
        await model.aclose()
