"""Rollout throughput: run_many(group_size=8, record=True, reward=...) on the built-in demo model.

    python tools/bench_rollouts.py                 # 4 questions x 8 runs per row, concurrency 1 / 8 / 32
    python tools/bench_rollouts.py --inputs 2      # a quicker look

Each row runs the same weather questions (examples/rollouts.py's), a group of 8 sampled runs each
(temperature 0.7), recorded and scored by the example's reward, through one `LocalModel.demo()`
(batching on, its default max_batch=16), torch on 2 threads, in a fresh child process. The last
row is the same batch at the highest concurrency without `record`, for the cost of recording.
runs/s and tokens/s are over the row's wall time; tokens are the trajectories' response tokens
(generated: the mask's 1s; all: tool results and template text fed back too). Run seconds are
medians and 99th percentiles over the row's runs. One run of the script: compare within its table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one_row(concurrency: int, inputs: int, group_size: int, record: bool) -> dict[str, float]:
    """One row, in this process: the batch's wall time, runs, tokens and run times."""
    import anyio
    import torch

    torch.set_num_threads(2)
    from agentkit.batch import run_many
    from examples.rollouts import make_agent, questions, reward

    agent = make_agent()
    batch = questions()[:inputs]
    folder = Path(tempfile.mkdtemp(prefix="bench-rollouts-"))
    start = time.perf_counter()
    options = {"record": True} if record else {}
    results = anyio.run(lambda: run_many(agent, batch, group_size=group_size, reward=reward, temperature=0.7,
                                         concurrency=concurrency, output=folder / "runs.jsonl", progress=False,
                                         **options))  # fmt: skip
    wall = time.perf_counter() - start
    seconds = sorted(r.seconds for r in results)
    generated = sum(r.usage.completion_tokens for r in results)
    total = sum(len(r.trajectory.response_ids) for r in results if r.trajectory is not None)
    return {
        "runs": len(results),
        "failed": sum(r.error is not None for r in results),
        "wall": wall,
        "generated": generated,
        "all": total,
        "p50": statistics.median(seconds),
        "p99": seconds[min(len(seconds) - 1, round(0.99 * (len(seconds) - 1)))],
        "reward": statistics.fmean(r.reward for r in results if r.reward is not None),
    }


def main(argv: list[str] | None = None) -> str:
    """Print the table (a row as each finishes); returns it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=4, help="questions per row (default 4)")
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--row", help=argparse.SUPPRESS)  # a child's own row, as JSON
    args = parser.parse_args(argv)
    if args.row:
        spec = json.loads(args.row)
        text = json.dumps(one_row(spec["concurrency"], args.inputs, args.group_size, spec["record"]))
        print(text)
        return text
    import torch
    import transformers

    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    load = os.getloadavg()[0]
    say(f"# {platform.machine()}, {os.cpu_count()} cores (shared; load average {load:.1f} at the start), Python "
          f"{platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{time.strftime('%Y-%m-%d')}")  # fmt: skip
    say(f"# {args.inputs} questions x group_size {args.group_size}, temperature 0.7, LocalModel.demo()\n")
    say(
        "| concurrency | record | runs | failed | wall s | runs/s | generated tok/s | all response tok/s "
        "| run p50 s | run p99 s | mean reward |"
    )
    say("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [(c, True) for c in args.concurrency] + [(max(args.concurrency), False)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    for concurrency, record in rows:
        spec = json.dumps({"concurrency": concurrency, "record": record})
        child = [sys.executable, __file__, "--inputs", str(args.inputs), "--group-size", str(args.group_size),
                 "--row", spec]  # fmt: skip
        done = subprocess.run(child, env=env, capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        tokens = f"{r['all'] / r['wall']:.0f}" if record else "-"
        say(f"| {concurrency} | {'on' if record else 'off'} | {r['runs']} | {r['failed']} | {r['wall']:.1f} "
              f"| {r['runs'] / r['wall']:.2f} | {r['generated'] / r['wall']:.0f} | {tokens} | {r['p50']:.2f} "
              f"| {r['p99']:.2f} | {r['reward']:.2f} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
