import contextlib
import json
import threading

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
    return LocalModel(tiny_paths["intern-s1"], sampling=GREEDY, device_map=None, dtype=torch.float32, batching=False)


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


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_current_turn_reasoning_under_either_name_reaches_the_template(tiny_paths, key):
    """Issue 28: a transcript may hold reasoning under vLLM's new name `reasoning` (vLLM PR
    #27752); the families' templates read `reasoning_content`, and render it for the assistant
    messages after the last user message (interleaved thinking) only."""
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "a", key: "old thought"},
        *CONVERSATION,
        {"role": "assistant", "content": "", key: "current thought",
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "get_current_temperature", "arguments": '{"location": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "get_current_temperature", "content": '{"temperature": 3}'},
    ]  # fmt: skip
    for fmt in ("intern-s1", "qwen3"):
        model = LocalModel(tiny_paths[fmt], sampling=GREEDY, device_map=None)
        inputs, *_ = model._render(messages, [weather_tool_schema()], None, None)
        prompt = model.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False)
        assert "<think>\ncurrent thought\n</think>" in prompt and "old thought" not in prompt, fmt


def test_decoding_keeps_tool_markers_and_drops_end_of_turn(intern):
    text = '<|action_start|><|plugin|>\n{"name": "f", "parameters": {}}<|action_end|>'
    ids = intern.tokenizer.encode(text + "<|im_end|>", add_special_tokens=False)
    assert intern._decode(ids) == text
    assert intern.tokenizer.decode(ids, skip_special_tokens=True) != text  # why we do not skip them


def wrap_generate(model, before=None):
    """Record the keyword arguments (and prompt ids) of each `model.generate` call."""
    calls: list[dict] = []
    real = model.model.generate

    def generate(*args, **kwargs):
        record = dict(kwargs)
        calls.append(record)
        if before is not None:
            before(len(calls))
        out = real(*args, **kwargs)
        record["new_ids"] = out[0, kwargs["input_ids"].shape[1] :].tolist()
        return out

    model.model.generate = generate
    return calls


def greedy_reference(model, messages, max_new, **template_kwargs):
    """What the model says, computed without LocalModel: the chat template, greedy `generate`,
    one decode of all new tokens (end-of-turn tokens dropped), one batch parse."""
    tok = model.tokenizer
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                  return_tensors="pt", **template_kwargs)["input_ids"]  # fmt: skip
    vocab = tok.get_vocab()
    ends = sorted({tok.eos_token_id} | {vocab[t] for t in ("<|im_end|>", "<|endoftext|>") if t in vocab})
    out = model.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new,
                               do_sample=False, eos_token_id=ends, pad_token_id=tok.pad_token_id)  # fmt: skip
    new = out[0, ids.shape[1] :].tolist()
    text = tok.decode([t for t in new if t not in ends], skip_special_tokens=False)
    in_reasoning = tok.decode(ids[0]).rstrip().endswith("<think>")
    return model.format.parse(text, in_reasoning=in_reasoning), new


@pytest.mark.anyio
async def test_stream_and_complete_match_greedy_generate(intern):
    reference, new = greedy_reference(intern, CONVERSATION, 24, enable_thinking=True)
    assert len(new) == 24 and reference.reasoning  # a long enough answer, started inside <think>
    events = [e async for e in intern.stream(CONVERSATION, thinking=True)]
    done = events[-1]
    assert isinstance(done, CompletionDone)
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == reference.reasoning
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == reference.content
    assert (done.completion.content, done.completion.reasoning) == (reference.content, reference.reasoning)
    complete = await intern.complete(CONVERSATION, thinking=True)
    assert (complete.content, complete.reasoning) == (reference.content, reference.reasoning)
    assert complete.usage.completion_tokens == 24 and complete.finish_reason == "length"
    assert complete.usage.prompt_tokens > 20


def test_sampling_fields_that_are_set_reach_generate(tiny_paths):
    model = LocalModel(tiny_paths["qwen3"], sampling=Sampling(max_tokens=1), device_map=None, batching=False)
    calls = wrap_generate(model)
    sampling_keys = {"do_sample", "temperature", "top_k", "top_p", "min_p"}

    def sent(**options):
        anyio.run(lambda: model.complete([{"role": "user", "content": "hi"}], thinking=False, **options))
        return {k: v for k, v in calls[-1].items() if k in sampling_keys}

    assert sent() == {}  # nothing set: the model's generation config decides
    assert sent(top_k=5, top_p=0.5) == {"do_sample": True, "top_k": 5, "top_p": 0.5}
    assert sent(min_p=0.1) == {"do_sample": True, "min_p": 0.1}
    assert sent(temperature=0.7, top_k=3) == {"do_sample": True, "temperature": 0.7, "top_k": 3}
    assert sent(temperature=0, top_k=5) == {"do_sample": False}  # greedy: the others are moot
    model.sampling = Sampling(temperature=0.9, top_p=0.8, max_tokens=1)
    assert sent(top_p=0.3) == {"do_sample": True, "temperature": 0.9, "top_p": 0.3}  # a call's option wins
    assert calls[-1]["max_new_tokens"] == 1


def test_a_pad_token_id_of_zero_is_kept_and_is_not_an_end_token(tiny_paths):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_paths["qwen3"])
    tok.pad_token = tok.convert_ids_to_tokens(0)
    assert tok.pad_token_id == 0
    model = LocalModel.from_objects(
        AutoModelForCausalLM.from_pretrained(tiny_paths["qwen3"]), tok, sampling=GREEDY, batching=False
    )
    kwargs = model._kwargs({})
    assert kwargs["pad_token_id"] == 0
    assert 0 not in kwargs["eos_token_id"] and tok.eos_token_id in kwargs["eos_token_id"]


@pytest.mark.anyio
async def test_options_are_the_sampling_fields_and_response_format_and_others_are_refused_at_once(intern):
    assert intern.options == frozenset(
        {"temperature", "top_p", "top_k", "min_p", "max_tokens", "seed", "response_format"}
    )
    calls = wrap_generate(intern)
    with pytest.raises(UserError, match="tempreature"):
        intern.stream(CONVERSATION, tempreature=0.5)  # refused on the call, before any iteration
    with pytest.raises(UserError, match="approve"):
        await intern.complete(CONVERSATION, approve=lambda call: True)
    for bad in ({"max_tokens": "many"}, {"max_tokens": 0}, {"top_k": 2.5}, {"temperature": True},
                {"response_format": {"type": "xml"}}, {"seed": 1.5}):  # fmt: skip
        with pytest.raises(UserError, match=next(iter(bad))):
            await intern.complete(CONVERSATION, **bad)
    assert calls == []
    c = await intern.complete(CONVERSATION, thinking=False, max_tokens=2, temperature=0)
    assert c.usage.completion_tokens == 2


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
    model = LocalModel(
        tiny_paths["qwen3"], sampling=Sampling(temperature=0, max_tokens=5000), device_map=None, batching=False
    )
    calls = wrap_generate(model)
    with anyio.CancelScope() as scope:
        async with contextlib.aclosing(model.stream(CONVERSATION, thinking=False)) as events:
            seen = 0
            async for _ in events:
                seen += 1
                if seen == 3:
                    scope.cancel()
    assert scope.cancelled_caught
    # generate() had returned when the cancellation completed (the thread is awaited), early.
    assert "new_ids" in calls[0] and len(calls[0]["new_ids"]) < 5000
    assert (await model.complete(CONVERSATION, thinking=False, max_tokens=2)).usage.completion_tokens == 2


async def _until(predicate) -> None:
    while not predicate():  # another thread's progress: nothing to await
        await anyio.sleep(0.01)


def hold_first_generation(model):
    """Make the model's first generation wait for `release` (a threading.Event) once it has started."""
    generating, release = threading.Event(), threading.Event()

    def hold(n: int) -> None:
        if n == 1:
            generating.set()
            release.wait(120)  # a guard against a hang, not a timing threshold

    return generating, release, wrap_generate(model, before=hold)


@pytest.mark.anyio
async def test_a_queued_call_is_cancelled_while_another_generates(tiny_paths):
    model = LocalModel(
        tiny_paths["qwen3"], sampling=Sampling(temperature=0, max_tokens=4), device_map=None, batching=False
    )
    a_generating, release_a, calls = hold_first_generation(model)
    order: list[str] = []
    b_scope, b_done = anyio.CancelScope(), anyio.Event()

    async def run_a() -> None:
        await model.complete(CONVERSATION, thinking=False)
        order.append("A finished")

    async def run_b() -> None:
        with b_scope:
            await model.complete([{"role": "user", "content": "B"}], thinking=False)
        order.append("B cancelled" if b_scope.cancelled_caught else "B finished")
        b_done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_a)
        await anyio.to_thread.run_sync(a_generating.wait)
        tg.start_soon(run_b)
        await _until(lambda: model._gate.waiting == 1)  # B is queued behind A
        b_scope.cancel()
        with anyio.move_on_after(60):  # a hang guard: B's cancellation must not wait for A
            await b_done.wait()
        order.append("A released")
        release_a.set()
    assert order == ["B cancelled", "A released", "A finished"]
    assert len(calls) == 1  # B never generated
    assert model._gate.waiting == 0
    # The queue is left consistent: the next call runs.
    assert (await model.complete(CONVERSATION, thinking=False)).usage.completion_tokens == 4


@pytest.mark.anyio
async def test_queued_calls_run_first_come_first_served(tiny_paths):
    model = LocalModel(
        tiny_paths["qwen3"], sampling=Sampling(temperature=0, max_tokens=1), device_map=None, batching=False
    )
    a_generating, release_a, calls = hold_first_generation(model)
    prompt_ids = {}
    for name in "BCD":
        inputs, *_ = model._render([{"role": "user", "content": name}], None, False, None)
        prompt_ids[tuple(inputs["input_ids"][0].tolist())] = name
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: model.complete([{"role": "user", "content": "A"}], thinking=False))
        await anyio.to_thread.run_sync(a_generating.wait)
        for n, name in enumerate("DBC", start=1):  # queued in this order, not alphabetically
            tg.start_soon(lambda name=name: model.complete([{"role": "user", "content": name}], thinking=False))
            await _until(lambda n=n: model._gate.waiting == n)
        release_a.set()
    assert [prompt_ids[tuple(c["input_ids"][0].tolist())] for c in calls[1:]] == ["D", "B", "C"]


@pytest.mark.anyio
async def test_a_turn_handed_to_a_caller_cancelled_meanwhile_passes_on():
    from agentkit._local import _Gate

    gate = _Gate()
    await gate.acquire()
    scope = anyio.CancelScope()

    async def waiter() -> None:
        with scope:
            await gate.acquire()
            gate.release()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await _until(lambda: gate.waiting == 1)
        gate.release()  # hands the gate to the waiter...
        scope.cancel()  # ...which is cancelled before it runs again
    assert gate.waiting == 0
    with anyio.fail_after(60):  # a hang guard: the gate is free again
        await gate.acquire()
    gate.release()


def test_calls_from_several_event_loops_at_once_are_serialized(tiny_paths):
    # One model, two threads, each with its own event loop (as concurrent run_sync calls do).
    model = LocalModel(tiny_paths["qwen3"], sampling=GREEDY, device_map=None, batching=False)
    prompts = [[{"role": "user", "content": f"Question {i}"}] for i in range(2)]
    expected = [anyio.run(lambda p=p: model.complete(p, thinking=False)).content for p in prompts]
    active, most = [0], [0]
    real = model.model.generate

    def generate(*args, **kwargs):
        active[0] += 1
        most[0] = max(most[0], active[0])
        try:
            return real(*args, **kwargs)
        finally:
            active[0] -= 1

    model.model.generate = generate
    got: dict[int, str] = {}

    def one(i: int) -> None:
        got[i] = anyio.run(lambda: model.complete(prompts[i], thinking=False)).content

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got.get(i) for i in range(2)] == expected
    assert most[0] == 1


@pytest.mark.anyio
async def test_concurrent_calls_are_serialized_and_correct(tiny_paths):
    model = LocalModel(tiny_paths["qwen3"], sampling=GREEDY, device_map=None, batching=False)
    prompts = [[{"role": "user", "content": f"Question {i}"}] for i in range(4)]
    expected = [(await model.complete(p, thinking=False)).content for p in prompts]
    active, most = [0], [0]
    real = model.model.generate

    def generate(*args, **kwargs):
        active[0] += 1
        most[0] = max(most[0], active[0])
        try:
            return real(*args, **kwargs)
        finally:
            active[0] -= 1

    model.model.generate = generate
    got: dict[int, str] = {}

    async def one(i: int) -> None:
        got[i] = (await model.complete(prompts[i], thinking=False)).content

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(one, i)
    assert [got[i] for i in range(4)] == expected
    assert most[0] == 1  # never two generations at once


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
    not (
        LocalModel.__module__ and __import__("agentkit._local", fromlist=["DEMO_PATH"]).DEMO_PATH / "model.safetensors"
    ).exists(),
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


def plain_prompt_ids(model, tools, **template_kwargs) -> list[int]:
    schemas = [t.schema for t in tools]
    return model.tokenizer.apply_chat_template(
        CONVERSATION, tools=schemas, add_generation_prompt=True, tokenize=True, **template_kwargs
    )["input_ids"]  # fmt: skip


@pytest.mark.anyio
async def test_forced_tool_choice_starts_the_call_in_the_prompt_and_the_model_continues_it(intern):
    # No grammar locally: the call is started for the model, which continues it. What the
    # forcing itself cannot guarantee: that the model sees the opener (in its input ids, right
    # after the generation prompt) and that the output is that opener plus the model's tokens.
    tools = [weather_tool_schema()]
    plain = plain_prompt_ids(intern, tools, enable_thinking=False)
    calls = wrap_generate(intern)
    for choice, forced in [
        ("get_current_temperature", '<|action_start|><|plugin|>\n{"name": "get_current_temperature'),
        ("required", "<|action_start|><|plugin|>\n"),
    ]:
        c = await intern.complete(CONVERSATION, tools=tools, thinking=False, tool_choice=choice)
        sent = calls[-1]["input_ids"][0].tolist()
        assert sent == plain + intern.tokenizer.encode(forced, add_special_tokens=False), choice
        assert calls[-1]["new_ids"]  # the model generated after the opener
        expected = intern.format.parse(forced + intern._decode(calls[-1]["new_ids"]))
        assert (c.content, [(t.name, t.arguments) for t in c.tool_calls], [e.raw for e in c.errors]) == (
            expected.content,
            [(t.name, t.arguments) for t in expected.tool_calls],
            [e.raw for e in expected.errors],
        )


def script(model, text):
    """The model's next outputs are `text` (a scripted continuation through the real tokenizer,
    decoder and stream parser)."""
    tok = model.tokenizer

    def generate(input_ids, streamer=None, **kwargs):
        new = torch.tensor([tok.encode(text, add_special_tokens=False)])
        if streamer is not None:
            streamer.put(input_ids)
            for t in new[0]:
                streamer.put(t.reshape(1))
            streamer.end()
        return torch.cat([input_ids, new], dim=1)

    model.model.generate = generate


@pytest.mark.anyio
async def test_forced_opener_and_the_models_continuation_make_one_call(intern):
    # A scripted continuation: the opener ends exactly where the model's own tokens take over,
    # and the call's arguments are the ones the model wrote.
    tools = [weather_tool_schema()]
    script(intern, '", "parameters": {"location": "Oslo"}}<|action_end|><|im_end|>')
    c = await intern.complete(CONVERSATION, tools=tools, thinking=False, tool_choice="get_current_temperature")
    assert [(t.name, json.loads(t.arguments)) for t in c.tool_calls] == [
        ("get_current_temperature", {"location": "Oslo"})
    ]
    assert (c.content, c.errors) == ("", [])
    script(intern, '{"name": "get_current_temperature", "parameters": {"location": "Rome"}}<|action_end|><|im_end|>')
    c = await intern.complete(CONVERSATION, tools=tools, thinking=False, tool_choice="required")
    assert [(t.name, json.loads(t.arguments)) for t in c.tool_calls] == [
        ("get_current_temperature", {"location": "Rome"})
    ]


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
    model.model.model.vision_tower.register_forward_hook(
        lambda mod, args, out: seen.append((args[0].dtype, tuple(args[0].shape)))
    )
    ids_dtypes: list = []
    model.model.register_forward_pre_hook(
        lambda mod, args, kwargs: ids_dtypes.append(kwargs["input_ids"].dtype), with_kwargs=True
    )
    for part in (
        {"type": "image", "image": Image.new("RGB", (64, 64), (0, 0, 255))},
        {"type": "image", "path": str(path)},
    ):
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


@pytest.mark.anyio
@pytest.mark.parametrize(("source", "target"), [("intern-s1", "qwen3"), ("qwen3", "intern-s1")])
async def test_a_handoff_between_model_families_renders_the_transcript_in_the_targets_format(
    tiny_paths, source, target
):
    from agentkit import Agent
    from agentkit.testing import ScriptedModel, check_transcript
    from tests.agent_helpers import is1_call, qw_call

    model = LocalModel(tiny_paths[target], sampling=GREEDY, device_map=None, dtype=torch.float32)
    prompts = []
    render = model._render

    def spy(*args, **kwargs):
        inputs, *rest = render(*args, **kwargs)
        prompts.append(model.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False))
        return (inputs, *rest)

    model._render = spy
    helper = Agent(model, name="helper", system="You are the helper.", thinking=False)
    call = is1_call("transfer_to_helper") if source == "intern-s1" else qw_call("transfer_to_helper")
    router = Agent(ScriptedModel([call], format=source), name="router", system="You route.", handoffs=[helper])
    result = await router.run("Help me.")
    assert result.agent == "helper"
    check_transcript(result.messages)
    (prompt,) = prompts
    assert "You are the helper." in prompt and "You route." not in prompt
    if target == "qwen3":  # Qwen3's template: the call as <tool_call> JSON, the answer in <tool_response>
        assert '<tool_call>\n{"name": "transfer_to_helper", "arguments": {}}\n</tool_call>' in prompt
        assert "<tool_response>\nTransferred to helper: it goes on from here.\n</tool_response>" in prompt
    else:  # Intern-S1's: an action block, the answer from the plugin environment
        assert '<|action_start|><|plugin|>\n{"name": "transfer_to_helper", "parameters": {}}<|action_end|>' in prompt
        assert "<|im_start|>environment name=<|plugin|>\nTransferred to helper: it goes on from here." in prompt


def scripted_generation(model, text: str):
    """Replace `model`'s generation by `text` handed to its streamer: what LocalModel does with
    a given output (parse, calls in the reasoning, tool_choice), the model's own weights aside."""

    def generate(inputs, kwargs, stop, streamer, record=False, seed=None):
        if streamer is not None:
            streamer.on_text(text)
        return [1, 2, 3], int(inputs["input_ids"].shape[1]), []

    model._generate = generate


@pytest.mark.anyio
async def test_local_reasoning_calls_follow_the_rule_and_tool_choice_none_refuses_calls(tiny_paths):
    """The review of issue 28 (attack-28 01, 02, 11) for LocalModel: the same rule as
    RemoteModel's, decided on the whole response (agentkit/_reasoned.py, agentkit/_refused.py)."""
    from agentkit import ToolCallMalformed, ToolCallReady
    from tests.test_agent import get_current_temperature

    # scripted_generation replaces `generate`: the one-at-a-time path (the batched one shares its end).
    model = LocalModel(tiny_paths["qwen3"], sampling=GREEDY, device_map=None, dtype=torch.float32, batching=False)
    block = '<tool_call>\n{"name": "get_current_temperature", "arguments": {"location": "Oslo"}}\n</tool_call>'

    async def answer(text, tool_choice=None):
        scripted_generation(model, text)
        events = [e async for e in model.stream(CONVERSATION, tools=[get_current_temperature],
                                                tool_choice=tool_choice)]  # fmt: skip
        return events, events[-1].completion

    events, done = await answer(f"<think>\nI will look it up.\n{block}\n")
    assert [c.name for c in done.tool_calls] == ["get_current_temperature"]
    assert [e.call for e in events if isinstance(e, ToolCallReady)] == done.tool_calls
    events, done = await answer(f"<think>\nI will look it up.\n{block}\n", tool_choice="none")
    assert done.tool_calls == [] and not any(isinstance(e, ToolCallReady) for e in events)
    events, done = await answer(f"<think>\nMaybe {block} -- no, I know it.\n")
    assert done.tool_calls == []
    events, done = await answer(f"<think>\nok\n</think>\n\n{block}", tool_choice="none")
    assert done.tool_calls == [] and len(done.errors) == 1 and 'tool_choice is "none"' in done.errors[0].reason
    assert not any(isinstance(e, ToolCallReady) for e in events)
    assert any(isinstance(e, ToolCallMalformed) for e in events)
