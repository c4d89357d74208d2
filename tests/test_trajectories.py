"""agentkit.trajectories: recorded runs as verl, SkyRL, slime and SFT rows, written as Parquet or JSONL."""

import dataclasses
import json
import sys

import pytest

from agentkit import Trajectory, UserError
from agentkit.batch import BatchResult
from agentkit.batch._result import to_line
from agentkit.trajectories import VIEWS, read_runs, rows, write
from tests import trainer_shapes

MESSAGES = [
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "content": None,
     "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "4 C"},
    {"role": "assistant", "content": "It is 4 C in Oslo."},
]  # fmt: skip


def recorded(id, sample=None, reward=None, finish="stop") -> BatchResult:
    trajectory = Trajectory(prompt_ids=[1, 2, 3], response_ids=[10, 11, 20, 21, 12, 13],
                            response_mask=[1, 1, 0, 0, 1, 1], response_logprobs=[-0.5, -0.25, 0.0, 0.0, -1.0, -0.125],
                            turn_starts=[0, 4], finish_reasons=["tool_calls", finish], reward=reward)  # fmt: skip
    return BatchResult(id=id, group=id, sample=sample, output="It is 4 C in Oslo.", messages=MESSAGES, reward=reward,
                       trajectory=trajectory, turns=2)  # fmt: skip


GROUP = [recorded("q", 0, 1.0), recorded("q", 1, 0.0, finish="length"), recorded(7, 0, 0.5)]


def test_verl_rows_are_agent_loop_outputs_of_verl_itself():
    text = trainer_shapes.source(trainer_shapes.VERL)
    if text is None:
        pytest.skip("pip could not download verl's wheel")
    verl = trainer_shapes.classes(text, ["AgentLoopMetrics", "AgentLoopOutput"])
    fields = set(verl["AgentLoopOutput"].model_fields)
    for row, result in zip(rows(GROUP), GROUP, strict=True):
        own = {k: v for k, v in row.items() if k in fields}
        assert set(row) - set(own) == {"uid", "sample"}  # verl's GRPO groups rows by "uid"
        output = verl["AgentLoopOutput"](**own, metrics=verl["AgentLoopMetrics"]())
        assert output.prompt_ids == [1, 2, 3] and output.response_ids == result.trajectory.response_ids
        assert output.response_mask == [1, 1, 0, 0, 1, 1] and output.response_logprobs[4] == -1.0
        assert output.reward_score == result.reward and output.num_turns == 4
    assert [(r["uid"], r["sample"]) for r in rows(GROUP)] == [('"q"', 0), ('"q"', 1), ("7", 0)]


def test_skyrl_rows_are_trajectory_outputs_of_skyrl_itself():
    text = trainer_shapes.source(trainer_shapes.SKYRL)
    if text is None:
        pytest.skip("pip could not download skyrl-train's wheel")
    skyrl = trainer_shapes.classes(text, ["TrajectoryOutput"])["TrajectoryOutput"]
    made = rows(GROUP, view="skyrl")
    for row in made:
        # Every field TrajectoryOutput requires but env_metrics (agentkit has no environment metrics), and no other.
        fields = {k: v for k, v in row.items() if k != "trajectory_id"}
        output = skyrl(**fields, env_metrics={})
        assert output.loss_mask == [1, 1, 0, 0, 1, 1] and output.rollout_logprobs[0] == -0.5
    assert [r["stop_reason"] for r in made] == ["stop", "length", "stop"]
    assert [r["trajectory_id"] for r in made] == [{"instance_id": "\"q\"", "repetition_id": 0},
                                                  {"instance_id": "\"q\"", "repetition_id": 1},
                                                  {"instance_id": "7", "repetition_id": 0}]  # fmt: skip
    assert [f.name for f in dataclasses.fields(skyrl)] == [
        "response_ids",
        "reward",
        "stop_reason",
        "loss_mask",
        "prompt_ids",
        "rollout_logprobs",
        "env_metrics",
    ]


# slime is not on PyPI: its Sample's fields as THUDM/slime defines them in slime/utils/types.py
# (commit 0d234f3e3a83c81b7d37209994e0b994deacbb24): tokens (prompt + response), response_length,
# loss_mask and rollout_log_probs over the response only, reward, status, group_index, index, prompt.
SLIME_SAMPLE = {"group_index": int, "index": int, "prompt": list, "tokens": list, "response_length": int,
                "loss_mask": list, "rollout_log_probs": list, "reward": (float, type(None)), "status": str}  # fmt: skip


def test_slime_rows_have_the_fields_of_slimes_sample():
    made = rows(GROUP, view="slime")
    for row in made:
        assert set(row) == set(SLIME_SAMPLE)
        assert all(isinstance(row[k], t) for k, t in SLIME_SAMPLE.items())
        assert row["tokens"] == [1, 2, 3, 10, 11, 20, 21, 12, 13] and row["response_length"] == 6
        assert len(row["loss_mask"]) == len(row["rollout_log_probs"]) == row["response_length"]
        assert row["prompt"] == MESSAGES[:1]
    assert [(r["group_index"], r["index"], r["status"]) for r in made] == [(0, 0, "completed"), (0, 1, "truncated"),
                                                                           (1, 2, "completed")]  # fmt: skip


# TRL 1.16.0, trl/trainer/sft_trainer.py: a dataset that already has "input_ids" is not tokenized again, and its
# "assistant_masks" column turns into labels (-100 where the mask is 0) when the dataset is prepared; its
# DataCollatorForLanguageModeling reads the same two columns. (TRL pulls in datasets and pandas: not installed here.)
def test_the_sft_view_masks_what_the_model_did_not_write():
    (row,) = rows(GROUP[:1], view="sft")
    assert set(row) == {"messages", "input_ids", "assistant_masks"}  # TRL's SFT columns
    assert row["messages"] == MESSAGES
    assert row["input_ids"] == [1, 2, 3, 10, 11, 20, 21, 12, 13]
    assert row["assistant_masks"] == [0, 0, 0, 1, 1, 0, 0, 1, 1]
    assert [t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m] == [10, 11, 12, 13]


def test_results_without_a_trajectory_give_no_row_and_a_bad_view_or_trajectory_is_a_user_error():
    plain = [BatchResult(id=1, output="x"), BatchResult(id=2, error="ModelError: down")]
    assert rows(plain + GROUP[:1]) == rows(GROUP[:1]) and len(rows(GROUP[:1])) == 1
    with pytest.raises(UserError, match="view must be one of 'verl', 'skyrl', 'slime', 'sft', not 'trl'"):
        rows(GROUP, view="trl")
    broken = recorded("b")
    broken.trajectory.response_mask.pop()
    with pytest.raises(UserError, match=r"result 'b' .* differ in length"):
        rows([broken])


@pytest.mark.parametrize("view", VIEWS)
def test_parquet_reads_back_the_same_rows(tmp_path, view):
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "rollouts.parquet"
    assert write(GROUP, path, view=view) == 3
    back = pq.read_table(path).to_pylist()
    expected = rows(GROUP, view=view)
    if view == "sft":  # Parquet gives each message every key any message has, None where it had none
        back = [{**r, "messages": [{k: v for k, v in m.items() if v is not None} for m in r["messages"]]}
                for r in back]  # fmt: skip
        expected = [{**r, "messages": [{k: v for k, v in m.items() if v is not None} for m in r["messages"]]}
                    for r in expected]  # fmt: skip
    assert back == expected
    assert not list(tmp_path.glob(".*.part"))


def test_jsonl_reads_back_the_same_rows(tmp_path):
    path = tmp_path / "rollouts.jsonl"
    assert write(GROUP, path, view="skyrl") == 3
    assert [json.loads(line) for line in path.read_text().splitlines()] == rows(GROUP, view="skyrl")


def test_parquet_without_pyarrow_says_how_to_get_it_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(UserError, match=r"writing Parquet needs pyarrow: pip install pyarrow"):
        write(GROUP, tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_file_behind(tmp_path):
    path = tmp_path / "rollouts.jsonl"
    bad = recorded("z")
    bad.messages = [{"role": "user", "content": object()}]  # JSON cannot hold it
    with pytest.raises(TypeError):
        write([bad], path, view="sft")
    assert list(tmp_path.iterdir()) == []


def test_read_runs_reads_a_run_many_file_with_its_trajectories(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(to_line(r)) + "\n" for r in GROUP) + '\n{"id": "half', encoding="utf-8")
    back = read_runs(path)
    assert [(r.id, r.sample, r.reward) for r in back] == [("q", 0, 1.0), ("q", 1, 0.0), (7, 0, 0.5)]
    assert rows(back) == rows(GROUP) and rows(back, view="sft") == rows(GROUP, view="sft")
    path.write_text('{"id": 1}\n[1, 2]\n')
    with pytest.raises(UserError, match=r"runs.jsonl, line 2: not a result line"):
        read_runs(path)


def test_ids_that_differ_only_in_type_are_different_groups():
    made = rows([recorded(1, 0, 1.0), recorded("1", 0, 0.0)])
    assert made[0]["uid"] != made[1]["uid"]
    assert [r["uid"] for r in made] == ["1", '"1"']  # the id as JSON, as the output file's resume key


def test_a_run_whose_reward_failed_or_that_failed_gives_no_row_unless_asked(tmp_path):
    unscored = recorded("q", 2)
    unscored.error = "RewardError: the reward failed: ConnectionError: judge down"
    stopped = recorded("q", 3)
    stopped.error = "MaxTurnsExceeded: no final answer after 2 model calls"
    results = [*GROUP, unscored, stopped]
    assert [(r["uid"], r["sample"]) for r in rows(results)] == [('"q"', 0), ('"q"', 1), ("7", 0)]
    asked = rows(results, failed=True)
    assert [(r["sample"], r["reward_score"]) for r in asked] == [(0, 1.0), (1, 0.0), (0, 0.5), (2, None), (3, None)]
    assert write(results, tmp_path / "rows.jsonl") == 3 and write(results, tmp_path / "all.jsonl", failed=True) == 5


def test_a_run_written_twice_counts_once_as_its_last_line_says(tmp_path):
    # A resume that scores a run again appends a second line for it: the last one is the run.
    first, again = recorded("q", 0, None), recorded("q", 0, 0.75)
    first.error = "RewardError: the reward failed: ValueError: no"
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(to_line(r)) + "\n" for r in [first, recorded(7, 0, 0.5), again]))
    back = read_runs(path)
    assert [(r.id, r.reward, r.error) for r in back] == [("q", 0.75, None), (7, 0.5, None)]


def test_a_position_id_and_the_same_explicit_id_are_two_runs(tmp_path):
    by_position, explicit = to_line(recorded(0, 0, 1.0)), to_line(recorded(0, 0, 0.0))
    by_position["id_from_position"] = True
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(by_position) + "\n" + json.dumps(explicit) + "\n")
    assert [r.reward for r in read_runs(path)] == [1.0, 0.0]


def test_a_line_without_an_id_says_so(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"output": "x"}\n')
    with pytest.raises(UserError, match=r"line 1: not a result line \(not an object with an 'id'\)"):
        read_runs(path)


def test_a_result_outside_a_group_is_grouped_by_its_own_id():
    alone = dataclasses.replace(recorded(5), group=None)
    assert rows([alone])[0]["uid"] == "5"
    assert rows([dataclasses.replace(alone, group={"b": 1, "a": 2})])[0]["uid"] == '{"a": 2, "b": 1}'


def test_a_trajectory_without_finish_reasons_stopped():
    result = recorded("q", 0, 1.0, finish="length")
    assert rows([result], view="skyrl")[0]["stop_reason"] == "length"
    assert rows([result], view="slime")[0]["status"] == "truncated"
    result.trajectory.finish_reasons = []
    assert rows([result], view="skyrl")[0]["stop_reason"] == "stop"
    assert rows([result], view="slime")[0]["status"] == "completed"


def test_jsonl_rows_keep_text_that_is_not_ascii(tmp_path):
    result = recorded("q", 0, 1.0)
    result.messages = [{"role": "user", "content": "Wie warm ist es in München? 天气"}, *MESSAGES[1:]]
    path = tmp_path / "sft.jsonl"
    write([result], path, view="sft")
    assert "München? 天气" in path.read_text(encoding="utf-8")


def test_a_reward_set_on_the_trajectory_alone_is_the_rows_reward():
    result = recorded("q", 0, None)
    result.trajectory.reward = 0.25
    assert rows([result])[0]["reward_score"] == 0.25 and rows([result], view="skyrl")[0]["reward"] == 0.25


def test_blank_lines_between_results_are_skipped(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text(
        json.dumps(to_line(recorded("a", 0, 1.0))) + "\n\n" + json.dumps(to_line(recorded("b", 0, 0.0))) + "\n"
    )
    assert [r.id for r in read_runs(path)] == ["a", "b"]
