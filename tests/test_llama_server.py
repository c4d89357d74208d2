"""agentkit against a real OpenAI-compatible server nobody here wrote: llama.cpp's llama-server.

The server is built from PyPI's llama-cpp-python sdist by `tools/llama_server.py` (cached
under ~/.cache/agentkit) and serves the built-in demo model, converted to GGUF by llama.cpp's
own converter. Its chat template is ours (the Intern-S1 format); llama.cpp reads the tool-call
markup from the template itself.
"""

import json

import jsonschema
import pytest

from agentkit import Agent, RemoteModel, Sampling, ToolCallReady
from agentkit.testing import check_transcript
from tests.test_agent import QUESTION, get_current_temperature, get_temperature_date
from tools import llama_server

pytestmark = [pytest.mark.anyio, pytest.mark.server("llama.cpp")]
TOOLS = [get_current_temperature, get_temperature_date]
GREEDY = Sampling(temperature=0, max_tokens=200)


@pytest.fixture(scope="module")
def server():
    with llama_server.Server(llama_server.demo_gguf()) as srv:
        yield srv


def valid(call) -> bool:
    tool = {t.name: t for t in TOOLS}[call.name]
    jsonschema.validate(json.loads(call.arguments), tool.parameters)
    return True


async def test_server_is_identified_as_llamacpp(server):
    async with RemoteModel(server.url, sampling=GREEDY) as model:
        await model.complete([{"role": "user", "content": "Hello"}], thinking=False, max_tokens=20)
        assert model.server == "llamacpp" and model.model


async def test_plain_chat(server):
    async with RemoteModel(server.url, sampling=GREEDY) as model:
        c = await model.complete([{"role": "user", "content": "Hello"}], thinking=False, max_tokens=40)
        assert isinstance(c.content, str) and c.usage.completion_tokens > 0
        assert c.finish_reason in ("stop", "length", "tool_calls")


@pytest.mark.parametrize("tool_choice", ["auto", "required"])
async def test_tool_calls_are_valid_for_the_schema(server, tool_choice):
    async with RemoteModel(server.url, sampling=GREEDY) as model:
        # Under "required" llama.cpp's grammar lets the model go on writing calls: bound it.
        c = await model.complete([{"role": "user", "content": QUESTION}], tools=TOOLS, thinking=False,
                                 tool_choice=tool_choice, max_tokens=100)  # fmt: skip
        assert c.tool_calls, (c.content, c.errors)
        assert all(valid(call) for call in c.tool_calls)
        assert len({call.id for call in c.tool_calls}) == len(c.tool_calls)


async def test_streaming_with_tools_gives_the_same_calls(server):
    async with RemoteModel(server.url, sampling=GREEDY) as model:
        messages = [{"role": "user", "content": QUESTION}]
        batch = await model.complete(messages, tools=TOOLS, thinking=False)
        events = [e async for e in model.stream(messages, tools=TOOLS, thinking=False)]
        streamed = events[-1].completion
        assert [(c.name, json.loads(c.arguments)) for c in streamed.tool_calls] == [
            (c.name, json.loads(c.arguments)) for c in batch.tool_calls
        ]
        assert sum(isinstance(e, ToolCallReady) for e in events) == len(streamed.tool_calls) > 0


async def test_agent_loop_end_to_end(server):
    async with RemoteModel(server.url, sampling=GREEDY) as model:
        result = await Agent(model, TOOLS, thinking=False, max_turns=4).run(QUESTION)
    check_transcript(result.messages)
    assert result.turns >= 2 and any(m["role"] == "tool" for m in result.messages)
    assert result.output


async def test_a_local_router_hands_off_to_an_agent_on_the_server(server):
    """Issue 24, end to end on real backends: the built-in router model (LocalModel) hands the
    question to a weather agent whose model is the llama.cpp server's, which calls the tools."""
    from agentkit import LocalModel
    from agentkit._demo.routing import GENERAL_DESCRIPTION, ROUTER_SYSTEM, WEATHER_DESCRIPTION, WithoutTransfers
    from agentkit.testing import ScriptedModel

    async with RemoteModel(server.url, sampling=GREEDY) as remote:
        weather = Agent(remote, TOOLS, name="weather", description=WEATHER_DESCRIPTION, thinking=False,
                        capabilities=[WithoutTransfers()])  # fmt: skip
        general = Agent(ScriptedModel([]), name="general", description=GENERAL_DESCRIPTION)  # never reached
        router = Agent(LocalModel.demo(role="router"), name="router", system=ROUTER_SYSTEM, handoffs=[weather, general])
        result = await router.run(QUESTION, max_turns=5)
    check_transcript(result.messages)
    assert result.agent == "weather" and remote.server == "llamacpp"
    names = [m["name"] for m in result.messages if m["role"] == "tool"]
    assert names[0] == "transfer_to_weather" and set(names[1:]) <= {t.name for t in TOOLS} and names[1:]
    assert "26.1" in result.output


async def test_an_agent_on_the_server_as_a_sub_agent(server):
    """Issue 24: a sub-agent whose model is the llama.cpp server's. The caller's model is scripted:
    no model here writes a sub-agent call (it takes a question as `input`; the demo models were
    trained before sub-agents existed)."""
    from agentkit import SubAgentEvent
    from agentkit.testing import ScriptedModel
    from tests.agent_helpers import collect, qw_call

    async with RemoteModel(server.url, sampling=GREEDY) as remote:
        sub = Agent(remote, TOOLS, name="weather", thinking=False, max_turns=4)
        caller = Agent(ScriptedModel([qw_call("weather", input=QUESTION), "Asked."]), [sub.as_tool()])
        events = await collect(caller, "go")
    result = events[-1].result
    check_transcript(result.messages)
    answer = next(m for m in result.messages if m["role"] == "tool")
    assert "26.1" in answer["content"] and result.turns == 2 and result.usage.requests >= 4
    inner = [e.event for e in events if isinstance(e, SubAgentEvent)]
    assert {e.call.name for e in inner if type(e).__name__ == "ToolCallFinished"} <= {t.name for t in TOOLS}
