"""Concurrent weather-bot runs on one LocalModel (the demo model): batched generation vs one at a time.

    python tools/bench_local_batch.py                  # concurrency 1 / 4 / 16 / 64
    python tools/bench_local_batch.py --levels 1,4 --runs 4 --quick   # the test suite's smoke run

Every run is the weather bot (agentkit's demo model, greedy, its two tools) through
`run_many(agent, inputs, concurrency=N)`: a question about one of 16 cities, now or now and
tomorrow, so most runs take three model calls (the calls, then the answer). Each row runs in a
fresh child process (its peak RSS is its own), torch on 2 threads. Rows:

- one at a time: batching off (`LocalModel.demo(batching=False)`), concurrency 1: the baseline,
  and the reference transcripts every other row is compared with (tool-call ids aside);
- batching off at concurrency 16: what concurrency alone gives (the calls queue for the model);
- batching on at each concurrency: the calls of all running runs share each forward pass
  (`max_batch=64`, so that every call of the 64 can be in the batch; above 16 also with the
  default `max_batch=16`, the other calls waiting for a row);
- the static ceiling: `generate` on one left-padded batch of the 16 first-turn prompts against
  the same 16 prompts one by one (one model call per run, no tools, no later turns).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CITIES = ["San Francisco", "Oslo", "Kyoto", "Porto", "Lima", "Cairo", "Denver", "Perth", "Austin", "Quito",
          "Dakar", "Hanoi", "Seoul", "Milan", "Lyon", "Turin"]  # fmt: skip


def inputs(n: int) -> list[str]:
    out = []
    for i in range(n):
        city = CITIES[i % len(CITIES)]
        tail = "How about tomorrow?" if (i // len(CITIES)) % 2 == 0 else ""
        out.append(f"Today is 2024-11-14, What's the temperature in {city} now? {tail}".strip())
    return out


def digest(messages: list[dict]) -> str:
    """A transcript's fingerprint, without the tool-call ids (random per run)."""
    clean = []
    for m in messages:
        m = {k: v for k, v in m.items() if k not in ("tool_call_id",)}
        if m.get("tool_calls"):
            m["tool_calls"] = [c["function"] for c in m["tool_calls"]]
        clean.append(m)
    return hashlib.sha256(json.dumps(clean, sort_keys=True, default=str).encode()).hexdigest()[:16]


async def runs(batching: bool, n: int, concurrency: int, max_batch: int) -> dict:
    from agentkit import Agent, LocalModel
    from agentkit._demo.weather import SYSTEM, TOOLS
    from agentkit.batch import run_many

    model = LocalModel.demo(batching=batching, max_batch=max_batch)
    agent = Agent(model, TOOLS, system=SYSTEM, max_turns=6)
    await run_many(agent, inputs(2), concurrency=2, progress=False)  # warm-up
    model._caches.clear()
    start = time.perf_counter()
    results = await run_many(agent, inputs(n), concurrency=concurrency, progress=False)
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "latencies": [r.seconds for r in results if r.error is None],
        "errors": sum(r.error is not None for r in results),
        "digests": [digest(r.messages) if r.error is None else "error" for r in results],
        "peak": getattr(model._batcher, "peak", 1),
    }


def ceiling() -> dict:
    """Static batching's best case: one padded `generate` over 16 first-turn prompts."""
    import torch

    from agentkit import LocalModel
    from agentkit._demo.weather import SYSTEM, TOOLS

    model = LocalModel.demo(batching=False)
    prompts = []
    for question in inputs(16):
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        prompts.append(model._render(messages, TOOLS, None, None)[0]["input_ids"][0].tolist())
    kwargs = model._kwargs({})
    with torch.inference_mode():
        model.model.generate(torch.tensor([prompts[0]]), **kwargs)  # warm-up
        start = time.perf_counter()
        for p in prompts:
            model.model.generate(torch.tensor([p]), **kwargs)
        one_by_one = time.perf_counter() - start
        width = max(map(len, prompts))
        pad = kwargs["pad_token_id"]
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        start = time.perf_counter()
        model.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        padded = time.perf_counter() - start
    return {"one_by_one": one_by_one, "padded": padded}


def child(kind: str, n: int, concurrency: int) -> None:
    import torch

    torch.set_num_threads(2)
    max_batch = 16 if kind == "on16" else 64
    out = ceiling() if kind == "ceiling" else asyncio.run(runs(kind != "off", n, concurrency, max_batch))
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def measure(kind: str, n: int, concurrency: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--runs", str(n), "--concurrency", str(concurrency)],
                         env=env, capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"{kind} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(name: str, level: int, m: dict, base_run: dict) -> str:
    n = len(m["digests"])
    rate = (n - m["errors"]) / m["wall"]
    reference = base_run["digests"]
    base = n / sum(base_run["latencies"][:n])  # one at a time over the same inputs (runs are in input order)
    lat = sorted(m["latencies"]) or [float("nan")]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    flips = sum(a != b for a, b in zip(m["digests"], reference, strict=False))
    return (f"| {level} | {name} | {n} | {m['wall']:.1f} | {rate:.2f} | {rate / base:.2f}× | "
            f"{statistics.median(lat) * 1000:.0f} | {p99 * 1000:.0f} | {flips} of {n} | {m['peak']} | "
            f"{m['peak_mb']:.0f} |")  # fmt: skip


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,16,64")
    parser.add_argument("--runs", type=int, default=16, help="runs per row (at least the concurrency)")
    parser.add_argument("--quick", action="store_true", help="no static ceiling, no batching-off row at 16")
    parser.add_argument("--child")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.runs, args.concurrency)
        return ""
    levels = [int(x) for x in args.levels.split(",")]
    most = max([args.runs, *levels])
    base_run = measure("off", most, 1)
    if base_run["errors"]:
        raise RuntimeError(f"{base_run['errors']} one-at-a-time runs failed")
    lines = [
        "| concurrency | LocalModel | runs | wall s | runs/s | vs one at a time | p50 ms | p99 ms | "
        "transcripts unlike one at a time | most rows in a step | peak RSS MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        row("batching off (one at a time)", 1, base_run, base_run),
    ]
    print(lines[-1], flush=True)
    if not args.quick:
        lines.append(row("batching off", 16, measure("off", max(args.runs, 16), 16), base_run))
        print(lines[-1], flush=True)
    for level in levels:
        lines.append(row("batching on", level, measure("on", max(args.runs, level), level), base_run))
        print(lines[-1], flush=True)
        if level > 16 and not args.quick:
            lines.append(row("batching on, max_batch=16 (the default)", level, measure("on16", level, level), base_run))
            print(lines[-1], flush=True)
    text = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared with other work), "
            f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}; demo weather runs, greedy\n\n"
            + "\n".join(lines))  # fmt: skip
    if not args.quick:
        c = measure("ceiling", 16, 16)
        text += (f"\n\nStatic ceiling: 16 first-turn prompts one by one {c['one_by_one']:.2f} s, as one left-padded "
                 f"generate batch {c['padded']:.2f} s: {c['one_by_one'] / c['padded']:.2f}×")  # fmt: skip
    print(text)
    return text


if __name__ == "__main__":
    main()
