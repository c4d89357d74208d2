"""One decision, batch and stream: where a parser-less server's content starts (issue 11, item 3).

A server without a reasoning parser returns the model's raw text as content. When the chat
template opened ``<think>`` in the prompt, that text starts inside reasoning and carries only the
closing tag: ``"thinking</think>answer"``. `complete()` and `stream()` must split it the same way.
"""

import json

import pytest

from agentkit import ReasoningDelta, RemoteModel, TextDelta, ToolCallReady
from tests.scripted_server import Reply, ScriptedServer, chunk, completion

pytestmark = pytest.mark.anyio
USER = [{"role": "user", "content": "What's the weather?"}]
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'

CASES = [
    # (raw content, thinking, expected reasoning, expected content, expected call names)
    ("The user asks.</think>It is sunny.", None, "The user asks.", "It is sunny.", []),
    ("The user asks.</think>It is sunny.", True, "The user asks.", "It is sunny.", []),
    ("<think>The user asks.</think>It is sunny.", None, "The user asks.", "It is sunny.", []),
    ("It is sunny.", None, None, "It is sunny.", []),
    ("It is sunny. Use <think> tags to think.", None, None, "It is sunny. Use <think> tags to think.", []),
    (f"Need a tool.</think>{CALL}", None, "Need a tool.", "", ["get_weather"]),
    (f"Calling.{CALL}", None, None, "Calling.", ["get_weather"]),
]


async def batch_and_stream(raw: str, thinking: bool | None, size: int):
    chunks = [chunk({"content": raw[i : i + size]}) for i in range(0, len(raw), size)]
    with ScriptedServer(owned_by="vllm") as srv:
        srv.script(Reply(body=completion(raw)), Reply(chunks=[*chunks, chunk({}, finish="stop")]))
        model = RemoteModel(srv.url)
        batch = await model.complete(USER, thinking=thinking)
        events = [e async for e in model.stream(USER, thinking=thinking)]
    return batch, events


def summary(c):
    return c.reasoning, c.content, [(t.name, json.loads(t.arguments)) for t in c.tool_calls]


@pytest.mark.parametrize("size", [1, 3, 1000])
@pytest.mark.parametrize(("raw", "thinking", "reasoning", "content", "names"), CASES)
async def test_complete_and_stream_split_a_parser_less_message_alike(raw, thinking, reasoning, content, names, size):
    batch, events = await batch_and_stream(raw, thinking, size)
    final = events[-1].completion
    assert (batch.reasoning, batch.content, [t.name for t in batch.tool_calls]) == (reasoning, content, names)
    assert summary(final) == summary(batch)
    # What streamed adds up to the final message: no reasoning leaked into the answer.
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == content
    assert ("".join(e.text for e in events if isinstance(e, ReasoningDelta)) or None) == reasoning
    assert [e.call.name for e in events if isinstance(e, ToolCallReady)] == names


async def test_thinking_off_starts_in_content():
    # With thinking off the template opened no <think>: a stray closing tag is the model's text.
    batch, events = await batch_and_stream("a</think>b", False, 2)
    assert batch.reasoning is None and events[-1].completion.reasoning is None
    assert summary(events[-1].completion) == summary(batch)


async def test_content_streams_at_once_after_server_reasoning():
    # A server with a reasoning parser sends reasoning in its own field: the content that follows
    # is content from its first piece, emitted as it comes (not held back to the end).
    pieces = [chunk({"reasoning_content": "hmm"}), chunk({"content": "It is "}), chunk({"content": "sunny."}),
              chunk({}, finish="stop")]  # fmt: skip
    with ScriptedServer(owned_by="vllm") as srv:
        srv.script(Reply(chunks=pieces))
        model = RemoteModel(srv.url)
        stream = model.stream(USER, thinking=True)
        kinds = []
        async for e in stream:
            kinds.append(type(e).__name__)
            if isinstance(e, TextDelta):
                # The first content piece (its trailing space waits for what follows), before the rest.
                assert e.text == "It is"
                break
        await stream.aclose()
    assert kinds == ["ReasoningDelta", "TextDelta"]


async def test_starts_in_reasoning_given_wins():
    batch, events = await batch_and_stream("all thought", None, 4)
    assert batch.content == events[-1].completion.content == "all thought"
    with ScriptedServer(owned_by="vllm") as srv:
        srv.script(Reply(body=completion("all thought")))
        c = await RemoteModel(srv.url, starts_in_reasoning=True).complete(USER)
    assert (c.reasoning, c.content) == ("all thought", "")
