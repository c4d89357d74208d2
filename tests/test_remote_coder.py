"""RemoteModel and the newer Intern family: raw Qwen3-Coder XML calls typed by the request's
tools, and the S1-Pro / S2-Preview sampling presets picked from the model id."""

import json

import pytest

from agentkit import (
    INTERN_S1,
    INTERN_S1_PRO,
    INTERN_S2_PREVIEW,
    CompletionDone,
    RemoteModel,
    Sampling,
    TextDelta,
    ToolCallReady,
    tool,
)
from tests.scripted_server import Reply, ScriptedServer, chunk, completion

pytestmark = pytest.mark.anyio


@tool
def forecast(city: str, days: int, detailed: bool = False) -> str:
    """The weather for the next days."""
    return city


RAW = (
    "<think>\nTwo days.\n</think>\n\nLet me look.\n<tool_call>\n<function=forecast>\n<parameter=city>\nOslo\n"
    "</parameter>\n<parameter=days>\n2\n</parameter>\n<parameter=detailed>\ntrue\n</parameter>\n</function>\n</tool_call>"
)
ARGS = {"city": "Oslo", "days": 2, "detailed": True}
USER = [{"role": "user", "content": "Weather in Oslo?"}]


async def test_raw_xml_calls_are_typed_by_the_requests_tools():
    with ScriptedServer(owned_by="vllm", model="internlm/Intern-S2-Preview") as srv:
        srv.script(Reply(body=completion(RAW)), Reply(body=completion(RAW)))
        model = RemoteModel(srv.url)
        c = await model.complete(USER, tools=[forecast])
        assert (c.reasoning, c.content) == ("Two days.", "Let me look.")
        assert [(t.name, json.loads(t.arguments)) for t in c.tool_calls] == [("forecast", ARGS)]
        untyped = await model.complete(USER)  # no tools given: the values stay strings
        assert json.loads(untyped.tool_calls[0].arguments) == {"city": "Oslo", "days": "2", "detailed": "true"}


async def test_raw_xml_calls_stream_and_are_ready_before_the_end():
    pieces = [RAW[i : i + 7] for i in range(0, len(RAW), 7)] + ["\nDone."]
    chunks = [chunk({"content": p}) for p in pieces] + [chunk({}, finish="stop")]
    with ScriptedServer(owned_by="sglang") as srv:
        srv.script(Reply(chunks=chunks))
        events = [e async for e in RemoteModel(srv.url).stream(USER, tools=[forecast])]
    final = events[-1]
    assert isinstance(final, CompletionDone)
    assert [(t.name, json.loads(t.arguments)) for t in final.completion.tool_calls] == [("forecast", ARGS)]
    ready = next(i for i, e in enumerate(events) if isinstance(e, ToolCallReady))
    assert any(isinstance(e, TextDelta) and "Done." in e.text for e in events[ready:])
    assert final.completion.content == "Let me look.\n\nDone."  # the newlines around the call kept


@pytest.mark.parametrize(
    ("model_id", "preset"),
    [("internlm/Intern-S2-Preview", INTERN_S2_PREVIEW), ("internlm/Intern-S1-Pro", INTERN_S1_PRO),
     ("internlm/Intern-S1", INTERN_S1), ("Qwen/Qwen3-8B", Sampling())],
)  # fmt: skip
@pytest.mark.parametrize("named", [True, False])
async def test_the_guides_preset_follows_the_model_id(model_id, preset, named):
    with ScriptedServer(owned_by="vllm", model=model_id) as srv:
        srv.script(Reply(body=completion("ok")))
        model = RemoteModel(srv.url, model=model_id if named else None, server="vllm" if named else "auto")
        await model.complete(USER)
        assert model.sampling == preset
        sent = srv.requests[0]
        for field in ("temperature", "top_p", "top_k", "min_p"):
            assert sent.get(field) == getattr(preset, field), field


async def test_sampling_given_wins_over_the_preset():
    with ScriptedServer(owned_by="vllm", model="internlm/Intern-S2-Preview") as srv:
        srv.script(Reply(body=completion("ok")))
        model = RemoteModel(srv.url, sampling=Sampling(temperature=0.1))
        await model.complete(USER)
        assert srv.requests[0]["temperature"] == 0.1 and "top_p" not in srv.requests[0]


def test_presets_are_the_guides():
    assert Sampling(temperature=0.8, top_p=0.95, top_k=50, min_p=0.0) == INTERN_S1_PRO == INTERN_S2_PREVIEW
