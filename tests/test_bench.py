"""Smoke test of the benchmarks: each one runs in quick mode and produces numbers.

No timing is asserted here; the numbers themselves live in docs/benchmarks.md.
"""

import re

from tools import bench, bench_agents


def test_quick_benchmarks_produce_numbers(capsys):
    sections = bench.main(["--quick"])
    expected = ["framework overhead", "concurrency", "import time", "parallel tool calls", "early dispatch",
                "streaming parser", "local KV reuse"]  # fmt: skip
    for name in expected:
        (title,) = [t for t in sections if t.startswith(name)]
        table = sections[title]
        rows = [line for line in table.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]
        assert len(rows) >= 2, title  # a header and at least one row of results
        assert re.search(r"\d+ ?(ms|s|×|B)?", "".join(rows[1:])), title
    assert "errors" in sections["concurrency"] and "| 0 |" in sections["concurrency"]


def test_the_sub_agent_benchmark_produces_numbers():
    table = bench_agents.main(["--quick"])
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split("|")[1].strip() for r in rows[1:]] == [
        "plain tool", "plain tool that calls the model itself", "agent as a tool"]
    assert re.search(r"costs -?\d+\.\d+ ms more", table)


def test_the_local_batching_benchmark_runs_and_compares_transcripts():
    from agentkit._local import DEMO_PATH

    if not (DEMO_PATH / "model.safetensors").exists():
        import pytest

        pytest.skip("demo model not built")
    from tools import bench_local_batch

    text = bench_local_batch.main(["--levels", "2", "--runs", "2", "--quick"])
    rows = [line for line in text.splitlines() if line.startswith("| ") and "concurrency" not in line]
    assert [r.split("|")[2].strip() for r in rows] == ["batching off (one at a time)", "batching on"]
    assert all(re.search(r"\| \d+ of 2 \|", r) for r in rows)  # transcripts compared with one at a time


def test_the_trajectories_benchmark_runs_and_compares_transcripts():
    from agentkit._local import DEMO_PATH

    if not (DEMO_PATH / "model.safetensors").exists():
        import pytest

        pytest.skip("demo model not built")
    from tools import bench_trajectories

    text = bench_trajectories.main(["--runs", "1", "--quick"])
    rows = [line for line in text.splitlines() if line.startswith("| one at a time")]
    assert len(rows) == 1 and rows[0].endswith("| True |")  # recording changed no transcript
    assert re.search(r"\| [+-]\d+\.\d % \|", rows[0])
    assert re.search(r"teacher-forced\| logprob: \d\.\d+e[+-]\d+", text)


def test_the_rollouts_benchmark_runs_recorded_groups():
    from agentkit._local import DEMO_PATH

    if not (DEMO_PATH / "model.safetensors").exists():
        import pytest

        pytest.skip("demo model not built")
    from tools import bench_rollouts

    text = bench_rollouts.main(["--inputs", "1", "--group-size", "2", "--concurrency", "2"])
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| 2 ")]
    assert [(r[1].strip(), r[2].strip(), r[3].strip()) for r in rows] == [("on", "2", "0"), ("off", "2", "0")]
    assert float(rows[0][6]) > 0 and float(rows[0][7]) >= float(rows[0][6])  # all response tokens >= generated
