"""What tracing costs per agent step: not instrumented, instrumented, and the loop before the hook.

    python tools/bench_tracing.py [--runs 2000] [--rounds 10] [--baseline DIR]

Each step is one model call and one tool call of a 5-step run against `ScriptedModel` (no
network, no model: what is measured is the loop itself). Configurations, each in its own
process:

- ``before the hook``: the agentkit in DIR (``--baseline``, e.g. ``git archive 368db30 agentkit``
  unpacked: the loop without the observer hook), when given;
- ``not instrumented``: the hook's no-op observer (the default);
- ``instrumented, no-op provider``: ``instrument()`` with the API's no-op tracer provider
  (agentkit's own cost: building the attributes and spans that go nowhere);
- ``instrumented, SDK``: the SDK's ``TracerProvider`` with a ``SimpleSpanProcessor`` that
  exports to an in-memory exporter (what a test sees; a real exporter adds its I/O);
- ``... capture_content=True``: the same, with the message text recorded.

The configurations take turns, in `--rounds` rounds. Prints a markdown table: median ms per
step (p10-p90 over the runs) and the ratio to ``not instrumented``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = 5

WORKER = r"""
import json, sys, time, anyio
mode, runs = sys.argv[1], int(sys.argv[2])
from agentkit import Agent, tool
from agentkit.testing import ScriptedModel

@tool
def add(a: int, b: int) -> int:
    '''Add two integers.

    Args:
        a: first
        b: second
    '''
    return a + b

CALL = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
SCRIPT = [CALL] * 4 + ["The sum is 3."]

if mode != "off":
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import NoOpTracerProvider
    from agentkit import tracing
    if mode == "noop":
        tracing.instrument(tracer_provider=NoOpTracerProvider())
    else:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracing.instrument(tracer_provider=provider, capture_content=(mode == "content"))

async def main():
    times = []
    for i in range(runs):
        agent = Agent(ScriptedModel(SCRIPT), [add], system="You add.")
        start = time.perf_counter()
        result = await agent.run("What is 1 + 2, four times?")
        times.append(time.perf_counter() - start)
        assert result.turns == 5
        if mode not in ("off", "noop") and i % 50 == 0:
            exporter.clear()
    print(json.dumps(times))

anyio.run(main)
"""


def measure(mode: str, runs: int, path: Path) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    out = subprocess.run([sys.executable, "-c", WORKER, mode, str(runs)], env=env, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    times = json.loads(out)[runs // 10 :]  # the first tenth warms up
    return [t / STEPS * 1000 for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000, help="runs per configuration, over all rounds")
    parser.add_argument("--rounds", type=int, default=10, help="the configurations take turns, round by round")
    parser.add_argument("--baseline", type=Path, help="a directory holding an older agentkit package")
    args = parser.parse_args()
    configs = [("not instrumented", "off", ROOT), ("instrumented, no-op tracer provider", "noop", ROOT),
               ("instrumented, SDK + in-memory exporter", "sdk", ROOT),
               ("instrumented, SDK, capture_content=True", "content", ROOT)]  # fmt: skip
    if args.baseline:
        configs.insert(0, ("before the hook (baseline agentkit)", "off", args.baseline))
    # Round by round, so that a busy machine's slow spell falls on every configuration alike.
    samples: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    for _ in range(args.rounds):
        for name, mode, path in configs:
            samples[name] += measure(mode, args.runs // args.rounds, path)
    rows = list(samples.items())
    reference = statistics.median(dict(rows)["not instrumented"])
    print(f"{args.runs} runs ({args.rounds} rounds) of {STEPS} steps each (model call + tool call), python {sys.version.split()[0]}, "
          f"{time.strftime('%Y-%m-%d')}\n")  # fmt: skip
    print("| configuration | ms per step, median (p10–p90) | ratio to not instrumented |")
    print("|---|---:|---:|")
    for name, values in rows:
        deciles = statistics.quantiles(values, n=10)
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} ({deciles[0]:.3f}–{deciles[-1]:.3f}) | {median / reference:.2f}× |")


if __name__ == "__main__":
    main()
