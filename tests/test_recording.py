"""``record=True`` (issue 26): a run's exact tokens, token-in/token-out, with raw-logit logprobs.

The decisive check: a teacher-forced forward pass of the same model over ``prompt_ids +
response_ids`` gives, at every generated position, the logprob the run recorded. These fail
before issue 26: runs took no ``record`` and `RunResult.trajectory` stayed None.
"""

import json
from typing import Any

import anyio
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentkit import Agent, LocalModel, Sampling, UserError  # noqa: E402
from agentkit._local import DEMO_PATH  # noqa: E402
from agentkit._tokens import TokenRecord, TokenRequest  # noqa: E402
from agentkit.sessions import History  # noqa: E402
from agentkit.testing import ScriptedModel, check_transcript  # noqa: E402
from tools.build_test_models import build_tiny  # noqa: E402

TOLERANCE = 1e-3  # CPU float32, the bound
demo_needed = pytest.mark.skipif(not (DEMO_PATH / "model.safetensors").exists(), reason="demo model not built")


# --- helpers ---------------------------------------------------------------------------------------


def forced_logprob_gap(model: LocalModel, trajectory) -> float:
    """The largest |recorded - teacher-forced| logprob over the generated (mask-1) positions."""
    ids = torch.tensor([trajectory.prompt_ids + trajectory.response_ids])
    with torch.inference_mode():
        logits = model.model(input_ids=ids).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    start = len(trajectory.prompt_ids)
    gaps = [
        abs(logprobs[start + j - 1, token].item() - recorded)
        for j, (token, mask, recorded) in enumerate(
            zip(trajectory.response_ids, trajectory.response_mask, trajectory.response_logprobs, strict=True)
        )
        if mask
    ]
    assert gaps, "no generated token"
    return max(gaps)


def check_shape(trajectory, result) -> None:
    t = trajectory
    assert len(t.response_ids) == len(t.response_mask) == len(t.response_logprobs)
    assert sum(t.response_mask) == result.usage.completion_tokens
    assert len(t.turn_starts) == len(t.finish_reasons) == result.turns
    for start in t.turn_starts:
        assert t.response_mask[start] == 1 and (start == 0 or t.response_mask[start - 1] == 0)
    assert all(p == 0.0 for p, m in zip(t.response_logprobs, t.response_mask, strict=True) if not m)
    assert all(p <= 0.0 for p, m in zip(t.response_logprobs, t.response_mask, strict=True) if m)


def segments(trajectory) -> list[list[int]]:
    """Each model call's generated tokens."""
    t, out = trajectory, []
    for start in t.turn_starts:
        end = start
        while end < len(t.response_mask) and t.response_mask[end]:
            end += 1
        out.append(t.response_ids[start:end])
    return out


class Spy:
    """A LocalModel as the agent sees it, keeping the prompt each call was fed."""

    def __init__(self, inner: LocalModel) -> None:
        self.inner, self.options, self.records, self.prompts = inner, inner.options, True, []

    async def complete(self, messages, **kw):
        done = await self.inner.complete(messages, **kw)
        self.prompts.append(done.tokens.prompt_ids)
        return done

    def stream(self, messages, **kw):
        raise AssertionError("not streamed here")


def without_ids(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A transcript with its random call ids numbered in order (runs can then be compared)."""
    names: dict[str, str] = {}
    text = json.dumps(messages)
    for m in messages:
        for c in m.get("tool_calls") or []:
            names.setdefault(c["id"], f"call{len(names)}")
    for old, new in names.items():
        text = text.replace(old, new)
    return json.loads(text)


# --- the demo model: real tool calls ----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    return LocalModel.demo()


def weather_agent(model, **kw):
    from agentkit._demo.weather import SYSTEM, TOOLS

    return Agent(model, TOOLS, system=SYSTEM, **kw)


@demo_needed
def test_a_recorded_demo_run_is_token_exact_and_records_no_different_output(demo):
    from agentkit._demo.weather import QUESTION

    agent = weather_agent(demo)
    plain = agent.run_sync(QUESTION)
    result = agent.run_sync(QUESTION, record=True)
    assert plain.trajectory is None
    # Recording changes nothing the run does (greedy): same transcript, same answer, same usage.
    assert without_ids(result.messages) == without_ids(plain.messages)
    assert (result.output, result.usage, result.turns) == (plain.output, plain.usage, plain.turns)
    t = result.trajectory
    assert result.turns >= 2 and any(m.get("tool_calls") for m in result.messages)
    check_shape(t, result)
    assert forced_logprob_gap(demo, t) < TOLERANCE
    # Decoding each call's generated tokens gives that call's assistant message.
    assistants = [m for m in result.messages if m["role"] == "assistant"]
    for tokens, message in zip(segments(t), assistants, strict=True):
        parsed = demo.format.parse(demo._decode(tokens))
        assert parsed.content == message["content"]
        assert [(c.name, json.loads(c.arguments)) for c in parsed.tool_calls] == [
            (c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message.get("tool_calls", [])
        ]
    assert t.finish_reasons == ["tool_calls", "stop"]


@demo_needed
@pytest.mark.parametrize("batching", [True, False], ids=["batched", "one-at-a-time"])
def test_each_call_is_fed_exactly_the_tokens_so_far(batching):
    from agentkit._demo.weather import QUESTION

    model = LocalModel.demo(batching=batching)
    assert (model._batcher is not None) is batching
    spy = Spy(model)
    # Calls the first two turns (the forced call's opening text is fed to the model: mask 0).
    agent = weather_agent(spy, tool_choice=lambda turn: "required" if turn < 2 else "auto", max_turns=6)
    result = agent.run_sync(QUESTION, record=True)
    t = result.trajectory
    assert len(spy.prompts) == result.turns >= 3
    assert spy.prompts[0] == t.prompt_ids
    for prompt, start in zip(spy.prompts, t.turn_starts, strict=True):
        assert prompt == t.prompt_ids + t.response_ids[:start]
    check_shape(t, result)
    check_transcript(result.messages)
    assert forced_logprob_gap(model, t) < TOLERANCE


@demo_needed
def test_a_sampled_demo_run_records_the_raw_logprobs():
    from agentkit._demo.weather import QUESTION

    model = LocalModel.demo(batching=False)
    agent = weather_agent(model, tool_choice=lambda turn: "required" if turn < 2 else "auto", max_turns=8)
    # top_k and a low temperature change what is sampled, not the recorded (raw) logprobs.
    result = agent.run_sync(QUESTION, record=True, temperature=0.7, top_k=20, seed=11)
    t = result.trajectory
    assert result.turns >= 3
    check_shape(t, result)
    assert forced_logprob_gap(model, t) < TOLERANCE
    # Raw, not warped: at temperature 0.7 the warped logprob of the sampled token differs.
    tokens = torch.tensor([t.prompt_ids + t.response_ids])
    with torch.inference_mode():
        logits = model.model(input_ids=tokens).logits[0].float()
    j = t.turn_starts[0]
    warped = torch.log_softmax(logits[len(t.prompt_ids) + j - 1] / 0.7, -1)[t.response_ids[j]].item()
    raw = t.response_logprobs[j]
    assert abs(warped - raw) > 10 * TOLERANCE or raw > -1e-4  # (a near-certain token is ~0 both ways)


# --- a tiny random model (fast): multi-call runs, sampling, batching --------------------------------


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return build_tiny("qwen3", tmp_path_factory.mktemp("rec") / "qwen3")


def tiny(path, **kw):
    return LocalModel(path, sampling=Sampling(temperature=0, max_tokens=16), device_map=None, dtype=torch.float32,
                      **kw)  # fmt: skip


def looping_agent(model, **kw):
    """Forced call openings on turns 0-2 (a random model writes a malformed call: answered with an
    error, the run goes on), then no tools: an answer. Four model calls."""
    from tests.test_agent import get_current_temperature

    choice = lambda turn: "required" if turn < 3 else "none"  # noqa: E731
    return Agent(model, [get_current_temperature], tool_choice=choice, thinking=False, max_turns=4, **kw)


@pytest.mark.parametrize("batching", [True, False], ids=["batched", "one-at-a-time"])
@pytest.mark.parametrize("sampling", [{}, {"temperature": 0.8, "seed": 5}], ids=["greedy", "sampled"])
def test_tiny_model_runs_of_four_calls_are_token_exact(tiny_path, batching, sampling):
    model = tiny(tiny_path, batching=batching)
    spy = Spy(model)
    result = looping_agent(spy).run_sync("hi", record=True, **sampling)
    t = result.trajectory
    assert result.turns == 4
    check_shape(t, result)
    for prompt, start in zip(spy.prompts, t.turn_starts, strict=True):
        assert prompt == t.prompt_ids + t.response_ids[:start]
    assert forced_logprob_gap(model, t) < TOLERANCE


def test_the_recorded_run_follows_its_tokens_not_the_template(tiny_path):
    """Qwen3's template drops earlier turns' thinking and writes an empty think block only after
    the last question: re-rendering the transcript differs from what the model was fed."""
    model = tiny(tiny_path, batching=False)
    spy = Spy(model)
    result = looping_agent(spy).run_sync("hi", record=True)
    rendered = model.tokenizer.apply_chat_template(
        [model._message(m) for m in result.messages[:-1]], add_generation_prompt=True, tokenize=True,
        return_dict=True, enable_thinking=False, tools=[looping_agent(model).tools["get_current_temperature"].schema],
    )["input_ids"]  # fmt: skip
    last = spy.prompts[-1]
    assert list(rendered) != last  # the template would have fed other tokens
    t = result.trajectory
    assert last == t.prompt_ids + t.response_ids[: t.turn_starts[-1]]


def test_a_seed_makes_sampled_runs_reproducible(tiny_path):
    for batching in (True, False):
        model = tiny(tiny_path, batching=batching)
        runs = [looping_agent(model).run_sync("hi", record=True, temperature=1.0, seed=s) for s in (3, 3, 4)]
        same, other = runs[0].trajectory, runs[2].trajectory
        assert runs[1].trajectory.response_ids == same.response_ids
        assert other.response_ids != same.response_ids  # the seed matters (sampling is on)


def test_the_stand_in_tokens_are_kept_per_tools_and_thinking(tiny_path):
    from tests.test_agent import get_current_temperature

    model = tiny(tiny_path, batching=False)
    record = TokenRequest(ids=[5, 6, 7], seen=1)
    messages = [{"role": "user", "content": "hi"}, {"role": "user", "content": "and now?"}]

    def fed(tools, thinking):
        return model._render(messages, tools, thinking, None, record)[0]["input_ids"][0].tolist()

    kept = [fed(None, False), fed([get_current_temperature], False), fed(None, None)]
    model._stand_ins.clear()
    fresh = [fed([get_current_temperature], False)]
    model._stand_ins.clear()
    fresh.append(fed(None, None))
    assert kept[1:] == fresh and kept[0][:3] == [5, 6, 7]


@pytest.mark.anyio
async def test_concurrent_recorded_runs_in_one_batch_are_each_token_exact(tiny_path):
    model = tiny(tiny_path)
    assert model._batcher is not None
    results: dict[int, Any] = {}

    async def one(i: int) -> None:
        results[i] = await looping_agent(model).run(f"question {i}", record=True)

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(one, i)
    assert model._batcher.peak > 1
    for result in results.values():
        check_shape(result.trajectory, result)
        assert forced_logprob_gap(model, result.trajectory) < TOLERANCE
    alone = await looping_agent(tiny(tiny_path, batching=False)).run("question 0", record=True)
    assert alone.trajectory.response_ids == results[0].trajectory.response_ids  # greedy: batching changes nothing


@pytest.mark.anyio
async def test_a_streamed_recorded_run_has_its_trajectory(tiny_path):
    from agentkit import RunFinished

    model = tiny(tiny_path)
    events = [e async for e in looping_agent(model).stream("hi", record=True)]
    assert isinstance(events[-1], RunFinished)
    result = events[-1].result
    assert result.trajectory is not None and len(result.trajectory.turn_starts) == 4
    assert forced_logprob_gap(model, result.trajectory) < TOLERANCE


@pytest.mark.parametrize("batching", [True, False], ids=["batched", "one-at-a-time"])
@pytest.mark.anyio
async def test_a_grammar_masks_the_sampled_tokens_not_the_recorded_logprobs(tiny_path, batching):
    """response_format's processors mask logits in place: the logprobs stay the raw ones."""
    pytest.importorskip("xgrammar")
    model = tiny(tiny_path, batching=batching)
    done = await model.complete([{"role": "user", "content": "hi"}], thinking=False, record=TokenRequest(),
                                response_format={"type": "json_object"}, max_tokens=12)  # fmt: skip
    tokens = done.tokens
    assert tokens is not None and tokens.output_ids
    ids = torch.tensor([tokens.prompt_ids + tokens.output_ids])
    with torch.inference_mode():
        logprobs = torch.log_softmax(model.model(input_ids=ids).logits[0].float(), dim=-1)
    start = len(tokens.prompt_ids)
    gaps = [
        abs(logprobs[start + j - 1, t].item() - p)
        for j, (t, p) in enumerate(zip(tokens.output_ids, tokens.logprobs, strict=True))
    ]
    assert max(gaps) < TOLERANCE


# --- refused before any model call --------------------------------------------------------------------


def test_a_model_that_cannot_record_is_refused_before_any_call():
    model = ScriptedModel(["hello"])
    with pytest.raises(UserError, match="cannot record"):
        Agent(model).run_sync("hi", record=True)
    assert model.calls == []


def test_a_remote_model_without_a_tokenizer_is_refused_before_any_call():
    from agentkit import RemoteModel

    model = RemoteModel("http://127.0.0.1:9/v1", model="m")  # nothing listens: any request would fail otherwise
    with pytest.raises(UserError, match="tokenizer="):
        Agent(model).run_sync("hi", record=True)


def test_record_with_history_or_not_a_bool_is_refused():
    model = ScriptedModel(["hello"])
    with pytest.raises(UserError, match="history"):
        Agent(model, history=History(max_turns=4)).run_sync("hi", record=True)
    with pytest.raises(UserError, match="True or False"):
        Agent(model).run_sync("hi", record="yes")
    assert model.calls == []


# --- the capability's rules: handoffs, sub-runs, resumes (a test double that records characters) -----


class CharRecorder(ScriptedModel):
    """Test double, not a model: a ScriptedModel whose "tokens" are characters, so that the
    capability's bookkeeping can be checked without a real model."""

    records = True

    def __init__(self, script, **kw):
        super().__init__(script, options=("temperature", "max_tokens", "record"), **kw)
        self.recorded: list[bool] = []

    async def complete(self, messages, *, record=None, **kw):
        done = await super().complete(messages, **kw)
        self.recorded.append(record is not None)
        if record is None:
            return done
        assert isinstance(record, TokenRequest)
        new = messages[record.seen :] if record.ids else messages
        prompt = [*record.ids, *(ord(c) for m in new for c in f"<{m['role']}>{m.get('content') or ''}")]
        out = [ord(c) for c in done.content + "".join(c.name for c in done.tool_calls)] or [0]
        done.tokens = TokenRecord(prompt_ids=prompt, output_ids=out, logprobs=[-0.5] * len(out))
        done.usage.completion_tokens = len(out)
        return done


def qw_call(name: str, args: dict[str, Any] | None = None) -> str:
    return f'<tool_call>\n{{"name": "{name}", "arguments": {json.dumps(args or {})}}}\n</tool_call>'


def test_a_handoff_keeps_recording_one_sequence():
    model = CharRecorder([qw_call("transfer_to_b"), "done"])
    b = Agent(model, name="b", system="I am b.")
    a = Agent(model, name="a", handoffs=[b])
    result = a.run_sync("hi", record=True)
    assert result.agent == "b"
    t = result.trajectory
    assert len(t.turn_starts) == 2 and sum(t.response_mask) == result.usage.completion_tokens
    assert model.calls[1].options == {} and result.turns == 2


def test_a_handoff_to_another_model_is_refused():
    b = Agent(CharRecorder(["done"]), name="b")
    a = Agent(CharRecorder([qw_call("transfer_to_b")]), name="a", handoffs=[b])
    with pytest.raises(UserError, match="another model"):
        a.run_sync("hi", record=True)


def test_a_sub_run_is_its_own_conversation():
    sub_model = CharRecorder(["sub answer"])
    sub = Agent(sub_model, name="helper", description="Helps.")
    main = Agent(CharRecorder([qw_call("helper", {"input": "help"}), "main answer"]), [sub.as_tool()], name="main")
    result = main.run_sync("hi", record=True)
    t = result.trajectory
    assert len(t.turn_starts) == 2  # the caller's two calls, not the sub-run's
    assert sum(t.response_mask) == len("helper") + len("main answer")
    fed = "".join(chr(i) for i, m in zip(t.response_ids, t.response_mask, strict=True) if not m)
    assert "<tool>sub answer" in fed  # the sub-run's output reaches the caller as a tool result
    assert sub_model.recorded == [False]  # the sub-run records nothing


def test_a_resumed_run_starts_a_new_trajectory():
    from agentkit import tool

    @tool(requires_approval=True)
    def launch() -> str:
        """Launch."""
        return "launched"

    model = CharRecorder([qw_call("launch"), "ok"])
    agent = Agent(model, [launch])
    first = agent.run_sync("go", record=True)
    assert first.pending and len(first.trajectory.turn_starts) == 1
    call = first.pending[0]
    second = agent.run_sync(first.messages, approvals={call.id: True}, record=True)
    t = second.trajectory
    assert len(t.turn_starts) == 1 and second.output == "ok"
    prompt = "".join(map(chr, t.prompt_ids))
    assert prompt.startswith("<user>go<assistant>") and prompt.endswith("<tool>launched")
