"""agentkit.batch.run_many against a hand-written asyncio.gather + semaphore loop on the raw openai client.

    python tools/bench_batch.py                 # 10,000 runs per contender, concurrency 64 / 256 / 1024, Ray
    python tools/bench_batch.py --runs 2000     # a quicker look
    python tools/bench_batch.py --no-ray

Every run is 3 tool turns (a call to `add`, answered) and a final answer against the scripted
OpenAI-compatible server (tools/bench_server.py, model id `steps-3`) in its own process on
127.0.0.1. Each contender runs in a fresh child process, so its peak RSS (getrusage) is its own.
run_many runs with the progress bar drawn (stderr is a pseudo-terminal) and the JSONL file on.
Ray: 2 local workers (actors) vs the same call in one process; the Ray row's memory is the
driver's alone (the workers are other processes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.bench import BenchServer, add, raw_openai_run  # noqa: E402

MODEL = "steps-3"


def make_agent():
    """The agent factory (also what each Ray worker calls): the bench URL comes from the environment."""
    from agentkit import Agent, RemoteModel, tool

    return Agent(RemoteModel(os.environ["BENCH_URL"], server="vllm", model=MODEL), [tool(add)], max_turns=50)


def _terminal_stderr() -> None:
    """Make stderr a pseudo-terminal (drained by a thread), so that run_many draws its progress bar."""
    master, slave = os.openpty()
    sys.stderr = open(slave, "w", buffering=1)  # noqa: SIM115

    def drain() -> None:
        while True:
            try:
                if not os.read(master, 65536):
                    return
            except OSError:
                return

    threading.Thread(target=drain, daemon=True).start()


async def raw_loop(url: str, runs: int, concurrency: int) -> tuple[list[float], int]:
    """The floor a user writes by hand: asyncio.gather over every run, a semaphore to bound them."""
    import openai

    # openai's default connection pool (1000), as RemoteModel has: at 1024 both wait alike for a connection.
    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY")
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    errors = 0

    async def one() -> None:
        nonlocal errors
        async with gate:
            start = time.perf_counter()
            try:
                await raw_openai_run(client, MODEL)
            except Exception:  # as a user's loop would: count it, go on
                errors += 1
                return
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(one() for _ in range(runs)))
    await client.close()
    return latencies, errors


async def batch(runs: int, concurrency: int, backend: str) -> tuple[list[float], int]:
    from agentkit.batch import run_many

    with tempfile.TemporaryDirectory() as tmp:
        factory = "tools.bench_batch:make_agent"
        results = await run_many(make_agent() if backend == "local" else factory,
                                 ("Add the numbers, step by step." for _ in range(runs)), concurrency=concurrency,
                                 output=Path(tmp) / "runs.jsonl", progress=True, backend=backend,
                                 **({"workers": 2} if backend == "ray" else {}))  # fmt: skip
        lines = (Path(tmp) / "runs.jsonl").read_text().count("\n")
    assert lines == runs, (lines, runs)
    return [r.seconds for r in results if r.error is None], sum(r.error is not None for r in results)


def child(contender: str, runs: int, concurrency: int) -> None:
    """One measurement in this (fresh) process: prints a JSON line."""
    url = os.environ["BENCH_URL"]
    if contender == "raw":
        warm, main = (lambda: raw_loop(url, 4, 4)), (lambda: raw_loop(url, runs, concurrency))
    else:
        if contender == "ray":
            import ray

            ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=False)  # fmt: skip
        backend = "ray" if contender == "ray" else "local"
        _terminal_stderr()
        warm, main = (lambda: batch(4, 4, backend)), (lambda: batch(runs, concurrency, backend))
    asyncio.run(warm())
    start = time.perf_counter()
    latencies, errors = asyncio.run(main())
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "latencies": latencies, "errors": errors, "peak_mb": peak_mb}))


def measure(url: str, contender: str, runs: int, concurrency: int) -> dict:
    env = {**os.environ, "BENCH_URL": url, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, __file__, "--child", contender, "--runs", str(runs), "--concurrency",
                          str(concurrency)], env=env, capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"{contender} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(name: str, concurrency: int, runs: int, m: dict, base: float | None) -> str:
    lat = sorted(m["latencies"]) or [float("nan")]
    rate = (runs - m["errors"]) / m["wall"]  # finished runs per second
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    ratio = f"{rate / base:.2f}×" if base else "1.00×"
    return (f"| {concurrency} | {name} | {runs} | {m['wall']:.1f} | {rate:.0f} | {ratio} | "
            f"{statistics.median(lat) * 1000:.0f} | {p99 * 1000:.0f} | {m['errors']} | {m['peak_mb']:.0f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--levels", default="64,256,1024")
    parser.add_argument("--ray-level", type=int, default=256)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.runs, args.concurrency)
        return
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}; {args.runs} runs of 3 tool turns per row\n")  # fmt: skip
    head = ["| concurrency | contender | runs | wall s | runs/s | ratio to raw loop | p50 ms | p99 ms | errors | peak RSS MB |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    with BenchServer() as server:
        lines = list(head)
        for level in map(int, args.levels.split(",")):
            raw = measure(server.url, "raw", args.runs, level)
            ours = measure(server.url, "local", args.runs, level)
            base = (args.runs - raw["errors"]) / raw["wall"]
            lines.append(row("raw openai loop (gather + semaphore)", level, args.runs, raw, None))
            lines.append(row("run_many (progress bar + JSONL)", level, args.runs, ours, base))
            print("\n".join(lines[-2:]), flush=True)
        print("\n## run_many vs a hand-written loop\n\n" + "\n".join(lines))
        if not args.no_ray:
            level = args.ray_level
            local = measure(server.url, "local", args.runs, level)
            spread = measure(server.url, "ray", args.runs, level)
            base = (args.runs - local["errors"]) / local["wall"]
            ray_lines = [head[0].replace("ratio to raw loop", "ratio to one process"), head[1],
                         row("run_many, one process", level, args.runs, local, None),
                         row("run_many, Ray, 2 local workers", level, args.runs, spread, base)]  # fmt: skip
            print("\n## Ray\n\n" + "\n".join(ray_lines))


if __name__ == "__main__":
    main()
