"""LocalModel end to end on the Qwen3-Coder family (Qwen3.5, Intern-S2-Preview): a tiny random
model built here with Qwen3-Coder's chat template (`tools/build_test_models.py`)."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentkit import (  # noqa: E402
    INTERN_S1_PRO,
    INTERN_S2_PREVIEW,
    Agent,
    CompletionDone,
    LocalModel,
    Sampling,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallOpened,
    ToolCallReady,
    tool,
)
from agentkit._local import _default_sampling  # noqa: E402
from tests.test_local import greedy_reference, script, wrap_generate  # noqa: E402
from tools.build_test_models import build_tiny  # noqa: E402

GREEDY = Sampling(temperature=0, max_tokens=24)
USER = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Weather in Oslo?"}]


@tool
def forecast(city: str, days: int) -> str:
    """The weather for the next days."""
    return f"{city}: sunny for {days} days"


@pytest.fixture(scope="module")
def coder_path(tmp_path_factory):
    return build_tiny("qwen3-coder", tmp_path_factory.mktemp("models") / "qwen3-coder")


@pytest.fixture
def coder(coder_path):
    return LocalModel(coder_path, sampling=GREEDY, device_map=None, dtype=torch.float32, batching=False)


def test_the_template_is_detected_and_renders_tools_calls_and_results(coder):
    assert coder.format.name == "qwen3-coder"
    messages = [
        *USER,
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "forecast", "arguments": '{"city": "Oslo", "days": 2}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]  # fmt: skip
    inputs, forced, in_reasoning = coder._render(messages, [forecast], None, None)
    prompt = coder.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False)
    assert forced == "" and not in_reasoning
    assert "<tools>\n<function>\n<name>forecast</name>" in prompt
    assert "<parameter>\n<name>days</name>\n<type>integer</type>" in prompt
    assert (
        "<|im_start|>assistant\nChecking.\n\n<tool_call>\n<function=forecast>\n<parameter=city>\nOslo\n</parameter>\n"
        "<parameter=days>\n2\n</parameter>\n</function>\n</tool_call><|im_end|>\n"
        "<|im_start|>user\n<tool_response>\nsunny\n</tool_response>\n<|im_end|>\n<|im_start|>assistant\n"
    ) in prompt
    # The rendered call is what the format renders and reads back.
    (call,) = coder.format.parse(prompt.split("Checking.\n")[1].split("<|im_end|>")[0], tools=[forecast]).tool_calls
    assert json.loads(call.arguments) == {"city": "Oslo", "days": 2}


@pytest.mark.anyio
async def test_stream_and_complete_match_greedy_generate(coder):
    reference, new = greedy_reference(coder, USER, 24, tools=[forecast.schema])
    assert len(new) == 24
    events = [e async for e in coder.stream(USER, tools=[forecast])]
    done = events[-1]
    assert isinstance(done, CompletionDone)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == reference.content
    complete = await coder.complete(USER, tools=[forecast])
    assert (complete.content, complete.reasoning) == (reference.content, reference.reasoning)
    assert (done.completion.content, complete.usage.completion_tokens) == (complete.content, 24)


@pytest.mark.anyio
async def test_xml_calls_stream_typed_by_the_tools(coder):
    script(coder, "Let me see.\n<tool_call>\n<function=forecast>\n<parameter=city>\nOslo\n</parameter>\n"
                  "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call><|im_end|>")  # fmt: skip
    events = [e async for e in coder.stream(USER, tools=[forecast])]
    kinds = [type(e) for e in events]
    assert kinds.index(ToolCallOpened) < kinds.index(ToolCallArgsDelta) < kinds.index(ToolCallReady)
    final = events[-1].completion
    assert [(t.name, json.loads(t.arguments)) for t in final.tool_calls] == [("forecast", {"city": "Oslo", "days": 3})]
    assert (final.content, final.finish_reason) == ("Let me see.", "tool_calls")


@pytest.mark.anyio
async def test_forced_tool_choice_opens_the_xml_call(coder):
    plain = coder.tokenizer.apply_chat_template(
        USER, tools=[forecast.schema], add_generation_prompt=True, tokenize=True
    )["input_ids"]
    calls = wrap_generate(coder)
    for choice, forced in [("forecast", "<tool_call>\n<function=forecast"), ("required", "<tool_call>\n<function=")]:
        await coder.complete(USER, tools=[forecast], tool_choice=choice)
        sent = calls[-1]["input_ids"][0].tolist()
        assert sent == plain + coder.tokenizer.encode(forced, add_special_tokens=False), choice
    script(
        coder,
        ">\n<parameter=days>\n5\n</parameter>\n<parameter=city>\nRome\n</parameter>\n</function>\n</tool_call><|im_end|>",
    )
    c = await coder.complete(USER, tools=[forecast], tool_choice="forecast")
    assert [(t.name, json.loads(t.arguments)) for t in c.tool_calls] == [("forecast", {"days": 5, "city": "Rome"})]


@pytest.mark.anyio
async def test_an_agent_runs_the_typed_call(coder):
    turns = iter([
        "<tool_call>\n<function=forecast>\n<parameter=city>\nOslo\n</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n</tool_call><|im_end|>",
        "Sunny.<|im_end|>",
    ])  # fmt: skip
    real = coder.model.generate

    def generate(*args, **kwargs):
        script(coder, next(turns))
        out = coder.model.generate(*args, **kwargs)
        coder.model.generate = generate
        return out

    coder.model.generate = generate
    result = await Agent(coder, [forecast]).run("Weather in Oslo?")
    coder.model.generate = real
    tool_message = next(m for m in result.messages if m["role"] == "tool")
    assert tool_message["content"] == "Oslo: sunny for 2 days"  # days arrived as the int 2
    assert result.output == "Sunny."


def test_presets_follow_the_model_name():
    assert _default_sampling("internlm/Intern-S1-Pro") == INTERN_S1_PRO
    assert _default_sampling("internlm/Intern-S2-Preview") == INTERN_S2_PREVIEW
    assert _default_sampling("/models/interns2_preview-fp8") == INTERN_S2_PREVIEW
    assert _default_sampling("Qwen/Qwen3-Coder-30B-A3B-Instruct") == Sampling()
