"""RL rollouts on the built-in demo model: weather questions, a group of runs each, scored, with their exact tokens.

    python examples/rollouts.py                                  # 32 questions x 4 runs, offline
    python examples/rollouts.py --output rollouts.jsonl --parquet rollouts.parquet

Each run's line in the JSONL file holds its trajectory (prompt_ids, response_ids, response_mask,
response_logprobs), its group (the question's id), its sample (0-3) and its reward: 1.0 when
every temperature the tools returned is in the answer, 0.0 otherwise. That is the data a GRPO
trainer takes: `agentkit.trajectories.write` turns it into verl's rows (`--parquet`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import anyio

from agentkit import Agent, LocalModel
from agentkit._demo.weather import SYSTEM, TOOLS
from agentkit.batch import BatchResult, run_many
from agentkit.trajectories import write

CITIES = [
    "Oslo, Norway", "Lyon, France", "Austin, Texas, USA", "Kyoto, Japan", "Porto, Portugal", "Denver, Colorado, USA",
    "Krakow, Poland", "Perth, Australia", "Quito, Ecuador", "Tunis, Tunisia", "Bergen, Norway", "Leeds, England",
    "Dublin, Ireland", "Hanoi, Vietnam", "Lima, Peru", "Boston, Massachusetts, USA",
]  # fmt: skip


def questions() -> list[dict[str, str]]:
    """32 questions: each city now, and each city tomorrow (a date the model must work out)."""
    now = [{"id": f"now-{i}", "input": f"What's the temperature in {city} now?"} for i, city in enumerate(CITIES)]
    later = [{"id": f"tomorrow-{i}", "input": f"Today is 2024-11-14, what will the temperature be in {city} tomorrow?"}
             for i, city in enumerate(CITIES)]  # fmt: skip
    return now + later


def make_agent() -> Agent[None]:
    return Agent(LocalModel.demo(), TOOLS, system=SYSTEM, max_turns=4)


def reward(result: BatchResult) -> float:
    """1.0 when the answer quotes every temperature the tools returned (and a tool was called)."""
    found = []
    for message in result.messages:
        if message.get("role") == "tool":
            try:
                found.append(json.loads(message["content"])["temperature"])
            except (ValueError, KeyError, TypeError):
                return 0.0  # a tool call that failed: the answer cannot have its number
    answer = str(result.output or "")
    numbers = set(re.findall(r"-?\d+(?:\.\d+)?", answer))
    return 1.0 if found and all(str(t) in numbers for t in found) else 0.0


def main(argv: list[str] | None = None) -> list[BatchResult]:
    parser = argparse.ArgumentParser(description="RL rollouts on the demo model, written with their tokens.")
    parser.add_argument("--output", type=Path, help="the JSONL file (default: a new one in a temporary folder)")
    parser.add_argument("--parquet", type=Path, help="also write verl's rows here (needs pyarrow)")
    parser.add_argument("--questions", type=int, default=32, help="how many of the 32 questions (default all)")
    parser.add_argument("--group-size", type=int, default=4, help="runs per question (default 4)")
    parser.add_argument("--concurrency", type=int, default=32, help="runs at once (default 32)")
    args = parser.parse_args(argv)
    output = args.output or Path(tempfile.mkdtemp(prefix="rollouts-")) / "rollouts.jsonl"
    inputs = questions()[: args.questions]
    start = time.perf_counter()
    results = anyio.run(lambda: run_many(make_agent(), inputs, group_size=args.group_size, reward=reward,
                                         record=True, temperature=0.7, concurrency=args.concurrency,
                                         output=output, progress=sys.stderr.isatty()))  # fmt: skip
    seconds = time.perf_counter() - start
    failed = sum(r.error is not None for r in results)
    scored = [r.reward for r in results if r.reward is not None]
    tokens = sum(len(r.trajectory.response_ids) for r in results if r.trajectory is not None)
    print(f"{len(results)} runs ({len(inputs)} questions x {args.group_size}) in {seconds:.1f} s, {failed} failed, "
          f"mean reward {sum(scored) / max(len(scored), 1):.2f}, {tokens} response tokens: {output}")  # fmt: skip
    if args.parquet:
        print(f"{write(results, args.parquet)} verl rows: {args.parquet}")
    return results


if __name__ == "__main__":
    main()
