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
