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
