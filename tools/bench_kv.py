"""Benchmark: per-turn latency of a 10-turn conversation on a tiny local model, with and
without KV-cache reuse.

    python tools/bench_kv.py            # 5 repetitions, 10 turns
    python tools/bench_kv.py --quick    # 1 repetition, 4 turns (the test suite's smoke run)

As in an agent run, every prompt carries the tool schemas (the guide's two weather tools);
each turn adds a user message of about 100 tokens and generates up to 8 tokens greedily, so the
prompt grows turn by turn while the generated part stays small: what reuse saves is the
prefill of the conversation so far. Prints a markdown table of medians, spreads and ratios.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio

PARAGRAPH = (
    "Here is some more context about the trip we are planning together: the museums, the walks along "
    "the river, the markets on the weekend, the train times between the cities, and the weather that "
    "we expect for each of the days. Please keep all of it in mind for the next answer."
)


async def conversation(model, turns: int) -> list[float]:
    from examples.weather_bot import get_current_temperature, get_temperature_date

    tools = [get_current_temperature, get_temperature_date]
    messages = [{"role": "system", "content": "You are a helpful travel assistant."}]
    latencies = []
    for turn in range(turns):
        messages.append({"role": "user", "content": f"Turn {turn}. {PARAGRAPH}"})
        start = time.perf_counter()
        completion = await model.complete(messages, tools=tools, thinking=False, max_tokens=8)
        latencies.append(time.perf_counter() - start)
        messages.append(completion.message)
    return latencies


def run(reps: int, turns: int, model_dir: Path) -> dict[str, list[list[float]]]:
    import torch

    from agentkit import LocalModel, Sampling

    torch.set_num_threads(2)
    results: dict[str, list[list[float]]] = {"no reuse": [], "reuse": []}
    for _ in range(reps):
        for mode, reuse in (("no reuse", False), ("reuse", True)):
            model = LocalModel(model_dir, sampling=Sampling(temperature=0), device_map=None, kv_reuse=reuse)
            anyio.run(conversation, model, 1)  # warm-up
            model._caches.clear()
            results[mode].append(anyio.run(conversation, model, turns))
    return results


def table(results: dict[str, list[list[float]]]) -> str:
    turns = len(results["reuse"][0])
    peer = "smolagents TransformersModel" in results
    head = "| turn | agentkit, no reuse: median ms (min–max) | agentkit, reuse: median ms (min–max) | speed-up |"
    lines = [head + (" smolagents TransformersModel: median ms | reuse vs smolagents |" if peer else ""),
             "|---:|---:|---:|---:|" + ("---:|---:|" if peer else "")]  # fmt: skip
    for t in range(turns):
        cols = []
        medians = []
        for mode in ("no reuse", "reuse", *(["smolagents TransformersModel"] if peer else [])):
            values = [run[t] * 1000 for run in results[mode]]
            medians.append(statistics.median(values))
            cols.append(f"{medians[-1]:.1f} ({min(values):.1f}–{max(values):.1f})")
        row = f"| {t + 1} | {cols[0]} | {cols[1]} | {medians[0] / medians[1]:.2f}× |"
        if peer:
            row += f" {cols[2]} | {medians[2] / medians[1]:.2f}× |"
        lines.append(row)
    return "\n".join(lines)


def run_peer(model_dir: Path, turns: int, reps: int) -> list[list[float]] | None:
    """smolagents' TransformersModel on the same model, in the peers' venv (see tools/bench.py)."""
    import json
    import subprocess

    python = Path(__file__).resolve().parent.parent / ".bench-venv" / "bin" / "python"
    if not python.exists():
        return None
    out = subprocess.run([python, str(Path(__file__).with_name("bench_kv_peer.py")), str(model_dir), str(turns), str(reps)],
                         capture_output=True, text=True, timeout=1800)  # fmt: skip
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(f"smolagents TransformersModel could not run: {out.stderr[-500:]}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--peer", action="store_true", help="add smolagents' TransformersModel (needs .bench-venv)")
    args = parser.parse_args(argv)
    reps, turns = (1, 4) if args.quick else (args.reps, args.turns)
    from tools.build_test_models import build_tiny

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny("qwen3", Path(tmp) / "bench", hidden=256, layers=4)
        results = run(reps, turns, model_dir)
        if args.peer:
            peer = run_peer(model_dir, turns, reps)
            if peer:
                results["smolagents TransformersModel"] = peer
    out = (
        f"KV-cache reuse, tiny random Qwen3-style model (hidden 256, 4 layers), {reps} runs x {turns} turns, "
        f"the weather tools in every prompt, up to 8 new tokens per turn; {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}\n\n{table(results)}"
    )
    print(out)
    return out


if __name__ == "__main__":
    main()
