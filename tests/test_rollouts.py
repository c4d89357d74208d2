"""examples/rollouts.py: weather questions in groups on the demo model, recorded, scored, written as JSONL and verl rows."""

import json

import pytest

pytest.importorskip("transformers")

from agentkit.batch import BatchResult
from examples import rollouts


def test_the_questions_are_32_with_unique_ids():
    questions = rollouts.questions()
    assert len(questions) == 32 and len({q["id"] for q in questions}) == 32


def tool(temperature) -> dict:
    return {"role": "tool", "tool_call_id": "c", "content": json.dumps({"temperature": temperature, "unit": "celsius"})}


@pytest.mark.parametrize(
    ("messages", "output", "expected"),
    [
        ([tool(26.1)], "It is 26.1 °C in Oslo.", 1.0),
        ([tool(26.1), tool(25.9)], "Now 26.1 °C, tomorrow 25.9 °C.", 1.0),
        ([tool(26.1), tool(25.9)], "Now 26.1 °C.", 0.0),  # one number missing
        ([tool(26.1)], "It is 26.11 °C.", 0.0),  # a number that only contains it
        ([tool(26.1)], "It is 126.1 °C.", 0.0),
        ([], "It is 26.1 °C.", 0.0),  # no tool called: nothing to quote
        ([{"role": "tool", "tool_call_id": "c", "content": "Error: bad arguments"}], "26.1", 0.0),
    ],
)
def test_the_reward_wants_every_tool_number_in_the_answer(messages, output, expected):
    result = BatchResult(id=0, output=output, messages=[{"role": "user", "content": "q"}, *messages])
    assert rollouts.reward(result) == expected


def test_the_example_runs_groups_on_the_demo_model_and_writes_tokens_and_rows(tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "rollouts.jsonl"
    results = rollouts.main(["--questions", "2", "--group-size", "2", "--output", str(out),
                             "--parquet", str(tmp_path / "rollouts.parquet")])  # fmt: skip
    assert [(r.id, r.sample) for r in results] == [("now-0", 0), ("now-0", 1), ("now-1", 0), ("now-1", 1)]
    assert all(r.error is None and r.reward in (0.0, 1.0) and r.trajectory.reward == r.reward for r in results)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 4 and all(len(line["response_ids"]) == len(line["response_logprobs"]) for line in lines)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("4 runs (2 questions x 2) in ") and printed[0].endswith(f": {out}")
    assert printed[1] == f"4 verl rows: {tmp_path / 'rollouts.parquet'}"
    assert pq.read_table(tmp_path / "rollouts.parquet").column("uid").to_pylist() == ['"now-0"', '"now-0"',
                                                                                      '"now-1"', '"now-1"']  # fmt: skip
