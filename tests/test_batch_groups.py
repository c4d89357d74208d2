"""run_many's groups and rewards: group_size runs per input, reward(result), resume by (id, sample), trajectories."""

import json
from pathlib import Path

import anyio
import pytest

from agentkit import Agent, Trajectory, UserError
from agentkit.batch import BatchResult, run_many
from agentkit.batch._result import from_line, to_line
from agentkit.testing import ScriptedModel
from tests.batch_agents import echo, respond, shout


def run(coro_fn, *args, **kwargs):
    return anyio.run(lambda: coro_fn(*args, **kwargs))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- groups -------------------------------------------------------------------------------------


def test_group_size_runs_each_input_n_times_and_the_results_share_the_inputs_id_as_group():
    model = ScriptedModel(respond)
    results = run(run_many, Agent(model, [shout]), ["a", {"id": "b", "input": "b"}], group_size=3, progress=False)
    assert [(r.id, r.group, r.sample) for r in results] == [
        (0, 0, 0), (0, 0, 1), (0, 0, 2), ("b", "b", 0), ("b", "b", 1), ("b", "b", 2),
    ]  # fmt: skip
    assert [r.output for r in results] == ["done: A"] * 3 + ["done: B"] * 3
    assert sum(len(c.messages) == 1 for c in model.calls) == 6  # six runs, each from its own start


def test_without_group_size_a_result_has_no_sample_and_its_group_is_its_id():
    results = run(run_many, echo(), ["a", {"id": "x", "input": "b"}], progress=False)
    assert [(r.id, r.group, r.sample, r.reward) for r in results] == [(0, 0, None, None), ("x", "x", None, None)]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_a_bad_group_size_is_a_user_error(bad):
    with pytest.raises(UserError, match="group_size must be a positive int"):
        run(run_many, echo(), ["a"], group_size=bad, progress=False)


def test_a_group_counts_against_concurrency_per_run():
    now = peak = 0

    async def reward(result):
        return 1.0

    from agentkit import tool

    @tool
    async def slow(text: str) -> str:
        """Shout slowly.

        Args:
            text: what
        """
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await anyio.sleep(0.01)
        now -= 1
        return text

    def script(messages):
        last = messages[-1]
        if last["role"] == "tool":
            return "ok"
        return '<tool_call>\n{"name": "slow", "arguments": {"text": "x"}}\n</tool_call>'

    results = run(run_many, Agent(ScriptedModel(script), [slow]), ["a", "b", "c"], group_size=4, concurrency=3,
                  reward=reward, progress=False)  # fmt: skip
    assert len(results) == 12 and all(r.reward == 1.0 for r in results)
    assert peak == 3


# --- rewards ------------------------------------------------------------------------------------


def test_a_sync_reward_scores_each_run_and_sees_its_result():
    seen = []

    def reward(result: BatchResult) -> float:
        seen.append((result.id, result.sample, result.output, result.reward))
        return len(result.output)

    results = run(run_many, echo(), ["ab", "abcd"], group_size=2, reward=reward, progress=False)
    assert [r.reward for r in results] == [8.0, 8.0, 10.0, 10.0]
    assert all(type(r.reward) is float for r in results)
    assert sorted(seen) == [(0, 0, "done: AB", None), (0, 1, "done: AB", None),
                            (1, 0, "done: ABCD", None), (1, 1, "done: ABCD", None)]  # fmt: skip


def test_an_async_reward_is_awaited():
    async def reward(result):
        await anyio.sleep(0)
        return 0.5 if "A" in result.output else -1

    results = run(run_many, echo(), ["a", "b"], reward=reward, progress=False)
    assert [r.reward for r in results] == [0.5, -1.0]


def test_a_reward_that_raises_keeps_the_runs_output_and_says_the_reward_failed(tmp_path):
    def reward(result):
        if result.id == 1:
            raise ValueError("no number in the answer")
        return 1

    out = tmp_path / "runs.jsonl"
    results = run(run_many, echo(), ["a", "b", "c"], reward=reward, output=out, progress=False)
    assert [r.output for r in results] == ["done: A", "done: B", "done: C"]
    assert [r.reward for r in results] == [1.0, None, 1.0]
    assert results[1].error == "RewardError: the reward failed: ValueError: no number in the answer"
    assert results[0].error is None and results[2].error is None
    written = {line["id"]: line for line in lines(out)}
    assert written[1]["output"] == "done: B" and written[1]["reward"] is None
    assert written[1]["error"] == results[1].error and written[0]["reward"] == 1.0


@pytest.mark.parametrize(("value", "why"), [("1", "a str"), (None, "a NoneType"), (float("nan"), "nan"),
                                            (float("inf"), "inf")])  # fmt: skip
def test_a_reward_that_is_not_a_finite_number_is_a_reward_error(value, why):
    results = run(run_many, echo(), ["a"], reward=lambda result: value, progress=False)
    assert results[0].reward is None and results[0].output == "done: A"
    assert results[0].error.startswith("RewardError: the reward returned ") and why in results[0].error


def test_a_failed_run_is_not_scored():
    scored = []
    results = run(run_many, echo(), ["a", "fail"], reward=lambda r: scored.append(r.id) or 1.0, progress=False)
    assert scored == [0]
    assert results[1].error.startswith("ModelError: ") and results[1].reward is None


def test_a_reward_given_as_module_function_is_imported_and_a_bad_one_is_a_user_error_before_any_run():
    model = ScriptedModel(respond)
    results = run(run_many, Agent(model, [shout]), ["abc"], reward="tests.batch_agents:answer_length", progress=False)
    assert results[0].reward == float(len("done: ABC"))
    for bad, message in [("tests.batch_agents:nothing", "has no attribute 'nothing'"), (42, "reward must be")]:
        with pytest.raises(UserError, match=message):
            run(run_many, Agent(model, [shout]), ["abc"], reward=bad, progress=False)
    assert len(model.calls) == 2


def test_a_reward_sets_the_trajectorys_reward_too():
    trajectory = Trajectory(prompt_ids=[1], response_ids=[2], response_mask=[1], response_logprobs=[-0.5])

    async def execute(it):
        return BatchResult(id=it.id, output="x", trajectory=trajectory)

    from agentkit.batch._run import drive

    async def main():
        return await drive(["q"], execute, concurrency=1, output=None, resume=False, progress=False,
                           group_size=1, reward=lambda r: 2)  # fmt: skip

    results = anyio.run(main)
    assert results[0].reward == 2.0 and results[0].trajectory is trajectory and trajectory.reward == 2.0


# --- the file: group, sample, reward, trajectory; resume per (id, sample) ------------------------


def test_lines_of_a_group_have_group_sample_and_reward(tmp_path):
    out = tmp_path / "runs.jsonl"
    run(run_many, echo(), [{"id": "q", "input": "a"}], group_size=2, reward=lambda r: 1, output=out, progress=False)
    first, second = lines(out)
    assert (first["id"], first["group"], first["sample"], first["reward"]) == ("q", "q", 0, 1.0)
    assert (second["id"], second["group"], second["sample"], second["reward"]) == ("q", "q", 1, 1.0)
    assert "prompt_ids" not in first  # nothing recorded, no trajectory fields


def test_a_plain_batch_writes_no_group_fields(tmp_path):
    out = tmp_path / "runs.jsonl"
    run(run_many, echo(), ["a"], output=out, progress=False)
    assert not {"group", "sample", "reward"} & set(lines(out)[0])


def test_resume_runs_only_the_missing_samples_of_a_group(tmp_path):
    out = tmp_path / "runs.jsonl"
    ledger = tmp_path / "ledger"
    inputs = [{"id": "q", "input": "a", "deps": {"ledger": str(ledger)}},
              {"id": "r", "input": "b", "deps": {"ledger": str(ledger)}}]  # fmt: skip
    run(run_many, echo(), inputs, group_size=3, output=out, progress=False)
    assert sorted(ledger.read_text().split()) == ["a", "a", "a", "b", "b", "b"]
    # A crash mid-group: only samples q/0 and r/2 made it to the file.
    kept = [line for line in lines(out) if (line["id"], line["sample"]) in {("q", 0), ("r", 2)}]
    out.write_text("".join(json.dumps(line) + "\n" for line in kept))
    ledger.write_text("")
    results = run(run_many, echo(), inputs, group_size=3, output=out, resume=True, progress=False)
    assert sorted(ledger.read_text().split()) == ["a", "a", "b", "b"]  # q/1, q/2, r/0, r/1 ran again, no more
    assert [(r.id, r.sample) for r in results] == [("q", 0), ("q", 1), ("q", 2), ("r", 0), ("r", 1), ("r", 2)]
    assert sorted((line["id"], line["sample"]) for line in lines(out)) == [
        ("q", 0), ("q", 1), ("q", 2), ("r", 0), ("r", 1), ("r", 2)]  # fmt: skip
    assert all(r.group == r.id and r.output == f"done: {'A' if r.id == 'q' else 'B'}" for r in results)


def test_resume_with_a_bigger_group_runs_only_the_new_samples(tmp_path):
    out = tmp_path / "runs.jsonl"
    model = ScriptedModel(respond)
    run(run_many, Agent(model, [shout]), ["a"], output=out, progress=False)  # group_size 1: sample 0
    first = len(model.calls)
    results = run(run_many, Agent(model, [shout]), ["a"], group_size=3, output=out, resume=True, progress=False)
    assert (len(model.calls) - first) // 2 == 2 and [r.sample for r in results] == [0, 1, 2]
    assert [line.get("sample") for line in lines(out)] == [None, 1, 2]


def test_a_second_batch_resuming_the_same_grouped_file_is_refused(tmp_path):
    out = tmp_path / "runs.jsonl"

    async def main():
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_many(echo(), [{"id": "q", "input": "a", "deps": {"sleep": 0.3}}], group_size=2,
                                           output=out, progress=False))  # fmt: skip
            await anyio.sleep(0.05)
            with pytest.raises(UserError, match="being written by another batch"):
                await run_many(echo(), [{"id": "q", "input": "a"}], group_size=2, output=out, resume=True,
                               progress=False)  # fmt: skip

    anyio.run(main)
    assert sorted(line["sample"] for line in lines(out)) == [0, 1]


def test_a_trajectory_is_written_and_read_back_with_its_line():
    trajectory = Trajectory(prompt_ids=[1, 2], response_ids=[3, 4, 5], response_mask=[1, 0, 1],
                            response_logprobs=[-0.25, 0.0, -1e-9], reward=0.5, turn_starts=[0, 2],
                            finish_reasons=["tool_calls", "stop"])  # fmt: skip
    result = BatchResult(id="q", group="q", sample=1, output="hi", reward=0.5, trajectory=trajectory,
                         messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "hi"}])  # fmt: skip
    line = json.loads(json.dumps(to_line(result)))
    assert {k: line[k] for k in ("prompt_ids", "response_ids", "response_mask", "response_logprobs", "reward",
                                 "group", "sample", "turn_starts", "finish_reasons")} == {
        "prompt_ids": [1, 2], "response_ids": [3, 4, 5], "response_mask": [1, 0, 1],
        "response_logprobs": [-0.25, 0.0, -1e-9], "reward": 0.5, "group": "q", "sample": 1, "turn_starts": [0, 2],
        "finish_reasons": ["tool_calls", "stop"]}  # fmt: skip
    assert line["messages"] == result.messages  # the SFT view needs them
    back = from_line(line)
    assert back.trajectory == trajectory and back.trajectory is not trajectory
    assert (back.id, back.group, back.sample, back.reward, back.messages) == ("q", "q", 1, 0.5, result.messages)


def test_a_line_without_a_trajectory_reads_back_without_one():
    back = from_line({"id": 3, "output": "x"})
    assert back.trajectory is None and back.group == 3 and back.sample is None and back.reward is None


# --- real recording: the demo model, record=True through run_many --------------------------------


def test_record_on_a_model_that_cannot_record_is_a_user_error_before_any_run():
    model = ScriptedModel(respond)
    with pytest.raises(UserError, match="record=True: ScriptedModel cannot record token ids and logprobs"):
        run(run_many, Agent(model, [shout]), ["a"], record=True, progress=False)
    assert model.calls == []


def weather_reward(result: BatchResult) -> float:
    """1.0 when every temperature the tools returned is in the answer."""
    numbers = [json.loads(m["content"])["temperature"] for m in result.messages if m["role"] == "tool"]
    return float(bool(numbers) and all(str(n) in result.output for n in numbers))


def test_a_recorded_group_on_the_demo_model_is_written_and_resumes_with_its_tokens(tmp_path):
    from agentkit import LocalModel
    from agentkit._demo.weather import SYSTEM, TOOLS
    from agentkit.trajectories import read_runs, rows

    agent = Agent(LocalModel.demo(), TOOLS, system=SYSTEM, max_turns=4)
    out = tmp_path / "runs.jsonl"
    question = {"id": "oslo", "input": "What's the temperature in Oslo, Norway now?"}
    results = run(run_many, agent, [question], group_size=2, record=True, reward=weather_reward, output=out,
                  temperature=0.7, progress=False)  # fmt: skip
    for r in results:
        assert r.error is None and r.turns >= 2, r.error
        t = r.trajectory
        assert len(t.response_ids) == len(t.response_mask) == len(t.response_logprobs) > 0
        assert sum(t.response_mask) == r.usage.completion_tokens  # the mask's 1s are what the model generated
        assert r.reward == t.reward == weather_reward(r)
        assert all(lp <= 0.0 for lp, m in zip(t.response_logprobs, t.response_mask, strict=True) if m)
    written = sorted(lines(out), key=lambda line: line["sample"])
    for line, r in zip(written, results, strict=True):
        assert (line["group"], line["sample"], line["reward"]) == ("oslo", r.sample, r.reward)
        assert line["prompt_ids"] == r.trajectory.prompt_ids and line["response_ids"] == r.trajectory.response_ids
        assert line["response_mask"] == r.trajectory.response_mask
        assert line["response_logprobs"] == r.trajectory.response_logprobs  # JSON keeps every float exactly
        assert line["turn_starts"] == r.trajectory.turn_starts and line["finish_reasons"][-1] == "stop"
    # A resume reads the runs back, tokens and all, and runs nothing.
    again = run(run_many, Agent(ScriptedModel(respond), [shout]), [question], group_size=2, output=out, resume=True,
                progress=False)  # fmt: skip
    assert [a.trajectory for a in again] == [r.trajectory for r in results]
    assert [a.messages for a in again] == [r.messages for r in results]
    back = sorted(read_runs(out), key=lambda r: r.sample)  # the file is in the order the runs finished
    assert rows(back, view="sft") == rows(results, view="sft")


# --- the command line ----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def batch_cli(tmp_path, *args):
    from agentkit.cli import main

    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"ab"\n{"id": "c", "input": "cde"}\n')
    return main(["batch", str(inputs), "--agent", "tests.batch_agents:echo", "--output", str(tmp_path / "out.jsonl"),
                 *args])  # fmt: skip


def test_cli_group_size_and_reward(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert batch_cli(tmp_path, "--group-size", "2", "--reward", "tests.batch_agents:answer_length") == 0
    out = tmp_path / "out.jsonl"
    assert capsys.readouterr().out.strip() == f"4 runs, 0 failed, mean reward 8.5: {out}"
    assert sorted((str(line["group"]), line["sample"], line["reward"]) for line in lines(out)) == [
        ("0", 0, 8.0), ("0", 1, 8.0), ("c", 0, 9.0), ("c", 1, 9.0)]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reward", "tests.batch_agents:nothing"], "has no attribute 'nothing'"),
        (["--reward", "no_such_module:f"], "cannot import 'no_such_module'"),
        (["--reward", "no_colon"], "MODULE:"),
        (["--group-size", "0"], "--group-size must be at least 1, not 0"),
        (["--record"], "record=True: ScriptedModel cannot record token ids and logprobs"),
    ],
)
def test_cli_group_mistakes_are_one_line_and_status_2_before_any_run(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(ROOT)
    assert batch_cli(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentkit batch: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.jsonl").exists() or (tmp_path / "out.jsonl").read_text() == ""


def seeds_of(model, inputs, **kw):
    """The seed each run of a batch started with, by (first message, sample order)."""
    before = len(model.calls)
    run(run_many, Agent(model, [shout]), inputs, concurrency=1, progress=False, **kw)
    return [(c.messages[0]["content"], c.options.get("seed")) for c in model.calls[before:] if len(c.messages) == 1]


def test_a_seed_gives_each_sample_its_own_seed_from_the_seed_the_id_and_the_sample():
    model = ScriptedModel(respond, options=("seed",))
    inputs = ["a", {"id": "b", "input": "b", "seed": 100}, {"id": 1, "input": "c"}, {"id": "1", "input": "c"}]
    seeds = seeds_of(model, inputs, group_size=3, seed=7)
    assert [text for text, _ in seeds] == ["a"] * 3 + ["b"] * 3 + ["c"] * 6
    values = [seed for _, seed in seeds]
    assert len(set(values)) == 12 and all(isinstance(v, int) and 0 <= v < 2**31 for v in values)
    assert seeds_of(model, inputs, group_size=3, seed=7) == seeds  # reproducible
    # Another seed shares no sample's seed (seed + sample would share all but one of a group's).
    other = seeds_of(model, inputs, group_size=3, seed=8)
    assert other[3:6] == seeds[3:6]  # "b" has its own seed
    assert not {v for _, v in other[:3] + other[6:]} & set(values)
    assert seeds_of(model, ["c"], seed=7) == [("c", 7)]  # no group: the seed as given
    assert all(seed is None for _, seed in seeds_of(model, ["d"], group_size=2))  # no seed: none


@pytest.mark.parametrize("sample", ['"1"', "-1", "true", "1.5"])
def test_resume_refuses_a_line_whose_sample_is_not_a_runs_number(tmp_path, sample):
    out = tmp_path / "runs.jsonl"
    out.write_text(f'{{"id": "q", "output": "x", "sample": {sample}}}\n')
    with pytest.raises(UserError, match=r"runs.jsonl, line 1: not a result line \('sample' is "):
        run(run_many, echo(), [{"id": "q", "input": "a"}], group_size=2, output=out, resume=True, progress=False)


def test_unwritten_lines_of_a_group_are_named_by_id_and_sample():
    from agentkit.batch import OutputFileError

    with pytest.raises(OutputFileError) as caught:
        run(run_many, echo(), [{"id": "q", "input": "a"}, "b"], group_size=2, output="/dev/full", progress=False)
    assert caught.value.unwritten == [("q", 0), ("q", 1), (1, 0), (1, 1)]
    assert [(r.id, r.sample, r.output) for r in caught.value.results] == [
        ("q", 0, "done: A"), ("q", 1, "done: A"), (1, 0, "done: B"), (1, 1, "done: B")]  # fmt: skip


def test_a_huge_group_is_built_as_its_runs_start_not_before(tmp_path, monkeypatch):
    from agentkit.batch import _journal

    looked_up = 0
    at_first_call: list[int] = []
    original = _journal.Journal.previous

    def previous(self, it):
        nonlocal looked_up
        looked_up += 1
        return original(self, it)

    monkeypatch.setattr(_journal.Journal, "previous", previous)

    def script(messages):
        at_first_call.append(looked_up)
        return "ok"

    out = tmp_path / "runs.jsonl"
    results = run(run_many, Agent(ScriptedModel(script)), ["a"], group_size=1000, concurrency=2, output=out,
                  progress=False)  # fmt: skip
    assert len(results) == 1000 and len(lines(out)) == 1000
    assert at_first_call[0] <= 3  # the samples looked up before the first run: not the whole group
