import functools
import threading

import anyio
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentkit import CompletionDone, LocalModel, TextDelta, UserError  # noqa: E402
from agentkit._demo.weather import SYSTEM, TOOLS  # noqa: E402
from agentkit._local import DEMO_PATH  # noqa: E402

pytestmark = pytest.mark.skipif(not (DEMO_PATH / "model.safetensors").exists(), reason="demo model not built")

CITIES = ["San Francisco", "Oslo", "Kyoto", "Porto", "Lima"]


def question(city: str) -> list[dict]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Today is 2024-11-14, What's the temperature in {city} now? How about tomorrow?"},
    ]


@pytest.fixture(scope="module")
def reference():
    """One-at-a-time answers (batching off: transformers' generate), by (city, max_tokens)."""
    model = LocalModel.demo(batching=False)
    cache: dict[tuple[str, int], object] = {}

    async def answer(city: str, max_tokens: int = 24):
        if (city, max_tokens) not in cache:
            cache[city, max_tokens] = await model.complete(question(city), tools=TOOLS, max_tokens=max_tokens)
        return cache[city, max_tokens]

    return answer


def hold_steps(model, until):
    """Make the batcher's first decode step wait (in its thread) until `until(batcher)` holds, so that
    the requests a test sends next join a batch that is still running."""
    batcher = model._batcher
    real = batcher._step
    sizes: list[int] = []
    done = threading.Event()

    def step():
        if not done.is_set():
            for _ in range(12000):  # a guard against a hang (two minutes), not a timing threshold
                with batcher._mutex:
                    if until(batcher):
                        break
                threading.Event().wait(0.01)
            done.set()
        sizes.append(len(batcher._rows))
        real()

    batcher._step = step
    return sizes


def sent(n: int):
    """All `n` requests have reached the batcher (running or waiting for their turn to join)."""
    return lambda batcher: len(batcher._queue) + len(batcher._rows) >= n


def same(a, b) -> None:
    """The same answer: text, calls (their generated ids aside) and token counts."""
    assert a.message.get("content") == b.message.get("content")
    calls = [[c["function"] for c in m.message.get("tool_calls") or []] for m in (a, b)]
    assert calls[0] == calls[1]
    assert a.usage == b.usage


@pytest.mark.anyio
async def test_batching_is_on_by_default_and_off_with_a_switch():
    assert LocalModel.demo()._batcher is not None
    assert LocalModel.demo(batching=False)._batcher is None
    with pytest.raises(UserError, match="max_batch"):
        LocalModel.demo(max_batch=0)


@pytest.mark.anyio
async def test_requests_join_a_running_batch_and_match_one_at_a_time_greedy(reference):
    model = LocalModel.demo()
    sizes = hold_steps(model, sent(len(CITIES)))
    results: dict[str, object] = {}

    async def one(city: str) -> None:
        results[city] = await model.complete(question(city), tools=TOOLS, max_tokens=24)

    async with anyio.create_task_group() as tg:
        for city in CITIES:
            tg.start_soon(one, city)
    assert max(sizes) == len(CITIES)  # all rows stepped together
    assert sizes[0] < len(CITIES)  # some were decoding when the others arrived
    for city in CITIES:
        same(results[city], await reference(city))


@pytest.mark.anyio
async def test_each_request_keeps_its_own_sampling_and_budget(reference):
    model = LocalModel.demo()
    sizes = hold_steps(model, sent(2))
    results = {}

    async def one(name: str, **options) -> None:
        results[name] = await model.complete(question("Oslo"), tools=TOOLS, **options)

    torch.manual_seed(0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(one, "greedy", max_tokens=24))
        # top_k=1 leaves one candidate: the argmax, whatever the temperature.
        tg.start_soon(functools.partial(one, "top_k", max_tokens=10, temperature=3.0, top_k=1))
        # At temperature 50 the distribution is nearly flat: 10 tokens all the argmax would be a
        # miracle, unless the temperature were not applied (the trained model is sure of itself).
        tg.start_soon(functools.partial(one, "hot", max_tokens=10, temperature=50.0))
    assert max(sizes) == 3
    same(results["greedy"], await reference("Oslo", 24))
    same(results["top_k"], await reference("Oslo", 10))
    assert results["top_k"].usage.completion_tokens == 10
    assert results["hot"].message != (await reference("Oslo", 10)).message


@pytest.mark.anyio
async def test_each_rows_logits_in_a_padded_batch_are_those_of_the_row_alone():
    """Left padding, the mask and the positions: every decode step's logits, row by row, against
    transformers' generate on that prompt alone (greedy, its scores)."""
    model = LocalModel.demo()
    batcher = model._batcher
    hold_steps(model, sent(3))
    seen: dict[int, list] = {}
    real = batcher._forward

    def forward(ids, mask, positions, cache):
        logits = real(ids, mask, positions, cache)
        if ids.shape[1] == 1:  # a decode step: one row per request
            for i, request in enumerate(batcher._rows):
                seen.setdefault(id(request), []).append((request.ids, logits[i].clone()))
        return logits

    batcher._forward = forward
    cities = ["Oslo", "Salt Lake City", "San Francisco"]  # prompts of different lengths
    async with anyio.create_task_group() as tg:
        for city in cities:
            tg.start_soon(functools.partial(model.complete, question(city), tools=TOOLS, max_tokens=12))
    assert len(seen) == 3 and len({len(steps[0][0]) for steps in seen.values()}) > 1
    kwargs = model._kwargs({"max_tokens": 12})
    for steps in seen.values():
        prompt = torch.tensor([steps[0][0]])
        out = model.model.generate(prompt, **kwargs, output_scores=True, return_dict_in_generate=True)
        for k, (_, logits) in enumerate(steps):
            torch.testing.assert_close(logits, out.scores[k + 1][0].float(), rtol=1e-4, atol=1e-4)


@pytest.mark.anyio
async def test_cancelling_one_request_leaves_the_others_running(reference):
    model = LocalModel.demo()
    batcher = model._batcher
    # No step is taken (joins go on) until the request to cancel is in the batch and cancelled.
    real_step, released = batcher._step, threading.Event()

    def step():
        if not released.is_set():
            if not any(r.max_new == 200 and r.stop.is_set() for r in batcher._rows):
                threading.Event().wait(0.01)  # the loop comes back: joins, then this check again
                return
            released.set()
        real_step()

    batcher._step = step
    ended: list[int] = []  # tokens made for each cancelled request
    real_end = batcher._end

    def end(request, error, **kwargs):
        if request.stop.is_set() and not request.ended:
            ended.append(len(request.new))
        real_end(request, error, **kwargs)

    batcher._end = end
    results = {}

    async def cancelled(scope: anyio.CancelScope) -> None:
        with scope:
            await model.complete(question("Kyoto"), tools=TOOLS, max_tokens=200)

    async def kept() -> None:
        results["kept"] = await model.complete(question("Porto"), tools=TOOLS, max_tokens=24)

    scope = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(cancelled, scope)
        tg.start_soon(kept)
        while not any(r.max_new == 200 for r in batcher._rows):  # another thread's progress: nothing to await
            await anyio.sleep(0.01)
        scope.cancel()
    same(results["kept"], await reference("Porto"))
    assert ended and ended[0] <= 1  # it left at once: its first token at most, not its 200


@pytest.mark.anyio
async def test_a_failing_request_leaves_the_others_running(reference):
    model = LocalModel.demo()
    hold_steps(model, sent(2))
    real = model.model.forward
    marker = model.tokenizer.encode("Lima", add_special_tokens=False)

    def forward(*args, **kwargs):
        ids = kwargs["input_ids"][0].tolist()
        if any(ids[i : i + len(marker)] == marker for i in range(len(ids))):
            raise RuntimeError("this prompt breaks the model")
        return real(*args, **kwargs)

    model.model.forward = forward
    results = {}

    async def failing() -> None:
        with pytest.raises(RuntimeError, match="breaks the model"):
            await model.complete(question("Lima"), tools=TOOLS, max_tokens=24)
        results["failed"] = True

    async def kept() -> None:
        results["kept"] = await model.complete(question("Porto"), tools=TOOLS, max_tokens=24)

    async with anyio.create_task_group() as tg:
        tg.start_soon(kept)
        tg.start_soon(failing)
    assert results["failed"]
    same(results["kept"], await reference("Porto"))


@pytest.mark.anyio
async def test_concurrent_streams_each_get_their_own_text_in_order(reference):
    model = LocalModel.demo()
    hold_steps(model, sent(3))
    texts: dict[str, str] = {}
    finals = {}

    async def one(city: str) -> None:
        texts[city] = ""
        async for event in model.stream(question(city), tools=TOOLS, max_tokens=60):
            if isinstance(event, TextDelta):
                texts[city] += event.text
            elif isinstance(event, CompletionDone):
                finals[city] = event.completion

    async with anyio.create_task_group() as tg:
        for city in CITIES[:3]:
            tg.start_soon(one, city)
    for city in CITIES[:3]:
        same(finals[city], await reference(city, 60))
        assert texts[city] == (finals[city].message.get("content") or "")


@pytest.mark.anyio
async def test_max_batch_bounds_the_rows_and_the_rest_wait(reference):
    model = LocalModel.demo(max_batch=2)
    sizes = hold_steps(model, sent(3))
    results = {}

    async def one(city: str) -> None:
        results[city] = await model.complete(question(city), tools=TOOLS, max_tokens=24)

    async with anyio.create_task_group() as tg:
        for city in CITIES[:3]:
            tg.start_soon(one, city)
    assert max(sizes) == 2
    for city in CITIES[:3]:
        same(results[city], await reference(city))


@pytest.mark.anyio
async def test_each_conversation_keeps_its_kv_across_turns_in_a_batch():
    model = LocalModel.demo()
    conversations = {city: question(city) for city in CITIES[:2]}
    firsts = {}

    async def turn(city: str) -> None:
        completion = await model.complete(conversations[city], tools=TOOLS, max_tokens=24)
        firsts.setdefault(city, completion)
        conversations[city] = [*conversations[city], completion.message, {"role": "user", "content": "Thanks!"}]

    async with anyio.create_task_group() as tg:
        for city in conversations:
            tg.start_soon(turn, city)
    before = dict(model.stats)
    async with anyio.create_task_group() as tg:
        for city in conversations:
            tg.start_soon(turn, city)
    reused = model.stats["reused_tokens"] - before["reused_tokens"]
    # Each second turn reuses its own first prompt, not only the system prompt and tools shared by all.
    own = sum(firsts[c].usage.prompt_tokens for c in conversations)  # the city differs: beyond the shared part
    assert reused >= own


@pytest.mark.anyio
async def test_an_error_while_a_finished_call_is_handed_back_reaches_its_caller(monkeypatch):
    """The review of issue 27 (attack-27 08, by fault injection): the final decode failing after the
    batch finished the call left the caller waiting forever; it raises, as with batching=False."""
    from agentkit import LocalModel, _serving
    from agentkit._demo.weather import SYSTEM, TOOLS

    def broken_end(self):
        raise RuntimeError("decode failed")

    monkeypatch.setattr(_serving._Streamer, "end", broken_end)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What's the temperature in Oslo now?"}]
    with anyio.fail_after(120), pytest.raises(RuntimeError, match="decode failed"):  # fail_after: a hang guard only
        await LocalModel.demo().complete(messages, tools=TOOLS, max_tokens=10)
