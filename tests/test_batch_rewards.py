"""run_many's rewards when they misbehave: a huge number, a hang, a batch stopped mid-reward, a resume."""

import json
from numbers import Real
from pathlib import Path

import anyio
import pytest

from agentkit import Agent, UserError
from agentkit.batch import run_many
from tests.batch_agents import echo
from tests.test_recording import CharRecorder


def run(coro_fn, *args, **kwargs):
    return anyio.run(lambda: coro_fn(*args, **kwargs))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("value", [10**400, -(10**400)], ids=["huge", "-huge"])
def test_a_reward_too_big_for_a_float_is_a_reward_error_on_its_run_and_the_others_are_scored(tmp_path, value):
    out = tmp_path / "runs.jsonl"
    ledger = tmp_path / "ledger.txt"
    inputs = [{"id": i, "input": t, "deps": {"ledger": str(ledger)}} for i, t in enumerate("abcd")]
    results = run(run_many, echo(), inputs, reward=lambda r: value if r.id == 0 else 1.0, output=out,
                  concurrency=4, progress=False)  # fmt: skip
    assert results[0].reward is None and results[0].output == "done: A"
    assert (
        results[0].error.startswith("RewardError: the reward returned ") and "not a finite number" in results[0].error
    )
    assert [r.reward for r in results[1:]] == [1.0, 1.0, 1.0]
    assert len(lines(out)) == 4  # every run is written; a resume repeats no tool
    run(run_many, echo(), inputs, output=out, resume=True, progress=False)
    assert sorted(ledger.read_text().split()) == ["a", "b", "c", "d"]


class Number:
    """A Real (registered) whose float() raises."""

    def __float__(self):
        raise RuntimeError("no number here")


Real.register(Number)


def test_a_reward_whose_value_cannot_become_a_float_is_a_reward_error():
    results = run(run_many, echo(), ["a"], reward=lambda r: Number(), progress=False)
    assert results[0].reward is None and results[0].error.startswith("RewardError: the reward returned <")
    assert results[0].error.endswith("not a finite number") and results[0].output == "done: A"


def test_a_reward_that_hangs_times_out_as_a_reward_error(tmp_path):
    async def judge(result):
        await anyio.sleep_forever()

    out = tmp_path / "runs.jsonl"
    results = run(run_many, echo(), ["a", "b"], reward=judge, reward_timeout=0.05, output=out, progress=False)
    assert [r.output for r in results] == ["done: A", "done: B"]
    assert all(r.reward is None and r.error == "RewardError: the reward took longer than 0.05 s" for r in results)
    assert [line["error"] for line in lines(out)] == [r.error for r in results]


@pytest.mark.parametrize("bad", [0, -1, "5", True])
def test_a_bad_reward_timeout_is_a_user_error(bad):
    with pytest.raises(UserError, match="reward_timeout"):
        run(run_many, echo(), ["a"], reward=lambda r: 1.0, reward_timeout=bad, progress=False)


def test_a_batch_stopped_while_rewards_run_keeps_the_finished_runs_and_a_resume_repeats_no_tool(tmp_path):
    out = tmp_path / "runs.jsonl"
    ledger = tmp_path / "ledger.txt"
    waiting = 0
    both = anyio.Event()

    async def judge(result):
        nonlocal waiting
        waiting += 1
        if waiting == 2:
            both.set()
        await anyio.sleep_forever()

    inputs = [{"id": "q", "input": "pay", "deps": {"ledger": str(ledger)}}]

    async def stopped() -> None:
        async with anyio.create_task_group() as tg:

            async def batch() -> None:
                await run_many(echo(), inputs, group_size=2, reward=judge, output=out, progress=False)

            tg.start_soon(batch)
            await both.wait()  # both runs finished; their rewards hang
            tg.cancel_scope.cancel()

    anyio.run(stopped)
    written = lines(out)
    # (in the order the runs finished)
    assert sorted((line["sample"], line["output"], line["reward"]) for line in written) == [(0, "done: PAY", None),
                                                                                           (1, "done: PAY", None)]  # fmt: skip
    assert all(line["error"].startswith("RewardError: the batch stopped") for line in written)
    run(run_many, echo(), inputs, group_size=2, output=out, resume=True, progress=False)
    assert ledger.read_text().split() == ["pay", "pay"]


def test_resume_scores_again_a_recorded_run_whose_reward_failed_without_running_it_again(tmp_path):
    out = tmp_path / "runs.jsonl"
    down = True

    def judge(result):
        if down:
            raise ConnectionError("judge down")
        return float(len(result.trajectory.response_ids))

    model = CharRecorder(lambda messages, *a, **k: "answer")
    first = run(run_many, Agent(model), ["q"], group_size=2, record=True, reward=judge, output=out, progress=False)
    assert all(r.reward is None for r in first) and len(model.calls) == 2
    down = False
    again = run(run_many, Agent(model), ["q"], group_size=2, record=True, reward=judge, output=out, resume=True,
                progress=False)  # fmt: skip
    assert len(model.calls) == 2  # no run again
    assert [(r.reward, r.error, r.trajectory.reward) for r in again] == [(6.0, None, 6.0), (6.0, None, 6.0)]
    assert [r.output for r in again] == ["answer", "answer"]
    # The new score is in the file: a later resume (or read_runs) reads it, one result per run.
    from agentkit.trajectories import read_runs

    assert sorted((r.sample, r.reward) for r in read_runs(out)) == [(0, 6.0), (1, 6.0)]
    third = run(run_many, Agent(model), ["q"], group_size=2, record=True, output=out, resume=True, progress=False)
    assert [r.reward for r in third] == [6.0, 6.0] and len(model.calls) == 2


def test_resume_without_a_reward_leaves_a_failed_reward_as_it_is(tmp_path):
    out = tmp_path / "runs.jsonl"
    model = CharRecorder(lambda messages, *a, **k: "answer")

    def judge(result):
        raise ConnectionError("judge down")

    run(run_many, Agent(model), ["q"], record=True, reward=judge, output=out, progress=False)
    again = run(run_many, Agent(model), ["q"], record=True, output=out, resume=True, progress=False)
    assert again[0].error == "RewardError: the reward failed: ConnectionError: judge down" and len(model.calls) == 1


def test_cli_reward_timeout(tmp_path, capsys, monkeypatch):
    from agentkit.cli import main

    monkeypatch.chdir(Path(__file__).parent.parent)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"ab"\n"cd"\n')
    out = tmp_path / "out.jsonl"
    args = ["batch", str(inputs), "--agent", "tests.batch_agents:echo", "--output", str(out), "--reward",
            "tests.batch_agents:never_answers"]  # fmt: skip
    assert main([*args, "--reward-timeout", "0.05"]) == 1  # runs failed (their reward did)
    assert capsys.readouterr().out.strip() == f"2 runs, 2 failed, no reward: {out}"
    assert [line["error"] for line in lines(out)] == ["RewardError: the reward took longer than 0.05 s"] * 2
    out.unlink()
    assert main([*args, "--reward-timeout", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentkit batch: ") and "reward_timeout must be a positive number" in err


def test_resume_with_a_reward_scores_no_run_whose_reward_worked_again(tmp_path):
    out = tmp_path / "runs.jsonl"
    model = CharRecorder(lambda messages, *a, **k: "answer")
    scored = []

    def judge(result):
        scored.append(result.sample)
        return 1.0

    run(run_many, Agent(model), ["q"], group_size=2, record=True, reward=judge, output=out, progress=False)
    assert sorted(scored) == [0, 1]
    again = run(run_many, Agent(model), ["q"], group_size=2, record=True, reward=judge, output=out, resume=True,
                progress=False)  # fmt: skip
    assert sorted(scored) == [0, 1] and len(model.calls) == 2  # neither run nor scored again
    assert [(r.reward, r.skipped) for r in again] == [(1.0, True), (1.0, True)]
