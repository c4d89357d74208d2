import contextlib
import json
import time

import anyio
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentkit import (  # noqa: E402
    INTERN_S1,
    INTERN_S1_MINI,
    CompletionDone,
    LocalModel,
    ReasoningDelta,
    Sampling,
    TextDelta,
    UserError,
)
from agentkit._local import _default_sampling  # noqa: E402
from tools.build_test_models import build_tiny  # noqa: E402

GREEDY = Sampling(temperature=0, max_tokens=24)


@pytest.fixture(scope="session")
def tiny_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {fmt: build_tiny(fmt, root / fmt) for fmt in ("intern-s1", "qwen3")}


@pytest.fixture
def intern(tiny_paths):
    return LocalModel(tiny_paths["intern-s1"], sampling=GREEDY, device_map=None, dtype=torch.float32)


def weather_tool_schema():
    from tests.test_agent import get_current_temperature

    return get_current_temperature


CONVERSATION = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "What's the temperature in Oslo now?"},
]


def test_renders_with_the_models_own_template_tools_and_thinking(intern):
    tools = [weather_tool_schema()]
    inputs, forced, _ = intern._render(CONVERSATION, tools, None, None)
    prompt = intern.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False)
    assert forced == ""
    assert "<|im_start|>system name=<|plugin|>\n" in prompt and '"get_current_temperature"' in prompt
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")  # Intern-S1 thinks by default
    inputs, *_ = intern._render(CONVERSATION, tools, False, None)
    prompt = intern.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert inputs["input_ids"].dtype == torch.long
    inputs, *_ = intern._render(CONVERSATION, tools, False, "none")
    prompt = intern.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False)
    assert "<|plugin|>" not in prompt  # tool_choice="none": the model is not shown the tools


def test_tool_history_is_rendered_in_the_family_format(tiny_paths):
    messages = [
        *CONVERSATION,
        {"role": "assistant", "content": "", "reasoning_content": "old thought",
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "get_current_temperature", "arguments": '{"location": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "get_current_temperature", "content": '{"temperature": 3}'},
    ]  # fmt: skip
    for fmt, call, result in [
        ("intern-s1", '<|action_start|><|plugin|>\n{"name": "get_current_temperature", "parameters": {"location": "Oslo"}}<|action_end|>',
         '<|im_start|>environment name=<|plugin|>\n{"temperature": 3}<|im_end|>'),
        ("qwen3", '<tool_call>\n{"name": "get_current_temperature", "arguments": {"location": "Oslo"}}\n</tool_call>',
         '<|im_start|>user\n<tool_response>\n{"temperature": 3}\n</tool_response><|im_end|>'),
    ]:  # fmt: skip
        model = LocalModel(tiny_paths[fmt], sampling=GREEDY, device_map=None)
        assert model.format.name == fmt
        inputs, *_ = model._render(messages, [weather_tool_schema()], False, None)
        prompt = model.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False)
        assert call in prompt and result in prompt
        # The reasoning of a turn before the last user message is dropped, as the families do.
        assert "old thought" in prompt  # after the last user message: kept
        inputs, *_ = model._render([*messages, {"role": "user", "content": "and now?"}], None, False, None)
        assert "old thought" not in model.tokenizer.decode(inputs["input_ids"][0])


def test_decoding_keeps_tool_markers_and_drops_end_of_turn(intern):
    text = '<|action_start|><|plugin|>\n{"name": "f", "parameters": {}}<|action_end|>'
    ids = intern.tokenizer.encode(text + "<|im_end|>", add_special_tokens=False)
    assert intern._decode(ids) == text
    assert intern.tokenizer.decode(ids, skip_special_tokens=True) != text  # why we do not skip them


@pytest.mark.anyio
async def test_stream_and_complete_agree(intern):
    complete = await intern.complete(CONVERSATION, thinking=True)
    events = [e async for e in intern.stream(CONVERSATION, thinking=True)]
    done = events[-1]
    assert isinstance(done, CompletionDone)
    assert done.completion.content == complete.content
    assert done.completion.reasoning == complete.reasoning
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == (complete.reasoning or "")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == complete.content
    assert complete.usage.completion_tokens == 24 and complete.finish_reason in ("length", "stop", "tool_calls")
    assert complete.usage.prompt_tokens > 20


@pytest.mark.anyio
async def test_kv_reuse_gives_identical_greedy_output(tiny_paths):
    reuse = LocalModel(tiny_paths["qwen3"], sampling=GREEDY, device_map=None, kv_reuse=True)
    fresh = LocalModel(tiny_paths["qwen3"], sampling=GREEDY, device_map=None, kv_reuse=False)
    messages = list(CONVERSATION)
    for turn in range(4):
        a = await reuse.complete(messages, thinking=False)
        b = await fresh.complete(messages, thinking=False)
        assert (a.content, a.reasoning, a.tool_calls) == (b.content, b.reasoning, b.tool_calls), turn
        messages += [a.message, {"role": "user", "content": f"Tell me more, part {turn}."}]
    assert reuse.stats["reused_tokens"] > reuse.stats["prompt_tokens"] / 2
    assert fresh.stats["reused_tokens"] == 0
    assert len(reuse._caches) == 1  # bounded: one conversation by default


@pytest.mark.anyio
async def test_cancelling_a_stream_stops_generation(tiny_paths):
    model = LocalModel(tiny_paths["qwen3"], sampling=Sampling(temperature=0, max_tokens=5000), device_map=None)
    start = time.perf_counter()
    with anyio.move_on_after(1) as scope:
        async with contextlib.aclosing(model.stream(CONVERSATION, thinking=False)) as events:
            async for _ in events:
                pass
    assert scope.cancelled_caught
    # The generating thread has finished: the model's lock is free again.
    assert model._lock.acquire(blocking=False)
    model._lock.release()
    assert time.perf_counter() - start < 10


@pytest.mark.anyio
async def test_concurrent_calls_are_serialized_and_correct(tiny_paths):
    model = LocalModel(tiny_paths["qwen3"], sampling=GREEDY, device_map=None)
    prompts = [[{"role": "user", "content": f"Question {i}"}] for i in range(4)]
    expected = [(await model.complete(p, thinking=False)).content for p in prompts]
    got: dict[int, str] = {}

    async def one(i: int) -> None:
        got[i] = (await model.complete(prompts[i], thinking=False)).content

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(one, i)
    assert [got[i] for i in range(4)] == expected


def test_presets_follow_the_model_name():
    assert _default_sampling("internlm/Intern-S1") == INTERN_S1
    assert _default_sampling("internlm/Intern-S1-mini") == INTERN_S1_MINI
    assert _default_sampling("Qwen/Qwen3-8B") == Sampling()


def test_images_need_a_processor(intern):
    image = [{"role": "user", "content": [{"type": "image", "url": "x.png"}, {"type": "text", "text": "hi"}]}]
    with pytest.raises(UserError, match="no processor"):
        intern._render(image, None, False, None)
    text_parts = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    inputs, *_ = intern._render(text_parts, None, False, None)
    assert "hi" in intern.tokenizer.decode(inputs["input_ids"][0])


# --- the built-in demo model, through the real transformers path --------------------------------

demo_needed = pytest.mark.skipif(
    not (LocalModel.__module__ and __import__("agentkit._local", fromlist=["DEMO_PATH"]).DEMO_PATH / "model.safetensors").exists(),
    reason="demo model not built",
)


@demo_needed
@pytest.mark.anyio
async def test_demo_model_runs_the_weather_loop():
    from agentkit import Agent
    from agentkit.testing import check_transcript
    from examples.weather_bot import SYSTEM
    from tests.test_agent import QUESTION, get_current_temperature, get_temperature_date

    agent = Agent(LocalModel.demo(), [get_current_temperature, get_temperature_date], system=SYSTEM)
    result = await agent.run(QUESTION)
    check_transcript(result.messages)
    calls = next(m for m in result.messages if m["role"] == "assistant")["tool_calls"]
    args = [json.loads(c["function"]["arguments"]) for c in calls]
    assert {"name": "get_current_temperature", "location": "San Francisco"} in [
        {"name": c["function"]["name"], "location": a["location"]} for c, a in zip(calls, args, strict=True)
    ]
    assert {a.get("date") for a in args} == {None, "2024-11-15"}
    assert "26.1" in result.output and "25.9" in result.output


@pytest.mark.anyio
async def test_named_tool_choice_makes_the_output_a_call_to_that_tool(intern):
    # No grammar locally: the call is started for the model, which continues it. Even a random
    # model's output is then a call to that tool (well-formed or reported as malformed).
    c = await intern.complete(CONVERSATION, tools=[weather_tool_schema()], thinking=False,
                              tool_choice="get_current_temperature")  # fmt: skip
    opener = '<|action_start|><|plugin|>\n{"name": "get_current_temperature'
    assert [t.name for t in c.tool_calls] == ["get_current_temperature"] or c.errors[0].raw.startswith(opener)
    c = await intern.complete(CONVERSATION, tools=[weather_tool_schema()], thinking=False, tool_choice="required")
    assert c.tool_calls or c.errors[0].raw.startswith("<|action_start|><|plugin|>\n")


@demo_needed
@pytest.mark.anyio
async def test_named_tool_choice_on_the_demo_model():
    from examples.weather_bot import SYSTEM, get_current_temperature, get_temperature_date

    completion = await LocalModel.demo().complete(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "How warm is it in Oslo right now?"}],
        tools=[get_current_temperature, get_temperature_date], tool_choice="get_current_temperature",
    )  # fmt: skip
    assert [(c.name, json.loads(c.arguments)) for c in completion.tool_calls] == [
        ("get_current_temperature", {"location": "Oslo"})
    ]


# --- images reach a vision-language model as pixels --------------------------------------------


@pytest.fixture(scope="session")
def vlm_path(tmp_path_factory):
    from tools.build_test_models import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "llava")


@pytest.mark.anyio
async def test_image_parts_reach_the_model_as_pixels(vlm_path, tmp_path):
    from PIL import Image

    model = LocalModel(vlm_path, sampling=GREEDY, device_map=None, dtype=torch.bfloat16)
    assert model.processor is not model.tokenizer  # a real processor
    path = tmp_path / "red.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path)
    seen: list[tuple] = []
    model.model.model.vision_tower.register_forward_hook(lambda mod, args, out: seen.append((args[0].dtype, tuple(args[0].shape))))
    ids_dtypes: list = []
    model.model.register_forward_pre_hook(
        lambda mod, args, kwargs: ids_dtypes.append(kwargs["input_ids"].dtype), with_kwargs=True
    )
    for part in ({"type": "image", "image": Image.new("RGB", (64, 64), (0, 0, 255))}, {"type": "image", "path": str(path)}):
        seen.clear()
        c = await model.complete([{"role": "user", "content": [part, {"type": "text", "text": "What is this?"}]}])
        assert seen == [(torch.bfloat16, (1, 3, 28, 28))]  # floats cast to the model dtype
        assert c.usage.prompt_tokens > 10
    assert set(ids_dtypes) == {torch.long}  # token ids stay integers


def test_video_without_video_support_is_a_clear_error(vlm_path):
    model = LocalModel(vlm_path, sampling=GREEDY, device_map=None)
    video = [{"role": "user", "content": [{"type": "video", "path": "clip.mp4"}, {"type": "text", "text": "?"}]}]
    with pytest.raises(UserError, match="video"):
        model._render(video, None, False, None)
