"""agentkit's benchmarks, side by side with a hand-written openai loop (and the peers).

    python tools/bench.py             # everything, full size (peers: add --peers)
    python tools/bench.py --quick     # small sizes: the test suite's smoke run
    python tools/bench.py --peers     # also openai-agents, pydantic-ai, smolagents (own venv)

Prints markdown tables (medians, spreads, ratios) and the machine it ran on. A scripted
OpenAI-compatible server (`tools/bench_server.py`) runs in its own process on 127.0.0.1 and
answers at once, so what is measured is the client side: the framework.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADD_SCHEMA = {"type": "function", "function": {"name": "add", "description": "Add two integers.", "parameters": {
    "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}  # fmt: skip


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first
        b: second
    """
    return a + b


# --- the server -----------------------------------------------------------------------------


class BenchServer:
    def __enter__(self) -> BenchServer:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "bench_server.py"), "--port", str(self.port)])
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/models", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("bench server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# --- the contenders ----------------------------------------------------------------------------


async def raw_openai_run(client, model: str = "steps-5") -> int:
    """The Intern-S1 guide's loop, written by hand with the openai client."""
    messages: list = [{"role": "user", "content": "Add the numbers, step by step."}]
    steps = 0
    while True:
        response = await client.chat.completions.create(model=model, messages=messages, tools=[ADD_SCHEMA])
        message = response.choices[0].message
        steps += 1
        messages.append(message.model_dump(exclude_none=True))
        if not message.tool_calls:
            return steps
        for call in message.tool_calls:
            result = add(**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "name": call.function.name,
                             "content": json.dumps(result)})  # fmt: skip


def make_agent(url: str, model: str = "steps-5", tools=None):
    from agentkit import Agent, RemoteModel, tool

    return Agent(RemoteModel(url, server="vllm", model=model), tools or [tool(add)], max_turns=50)


async def timed(factory, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        await factory()
        out.append(time.perf_counter() - start)
    return out


def spread(values: list[float], scale: float = 1000) -> str:
    values = sorted(v * scale for v in values)
    lo, hi = values[len(values) // 10], values[-1 - len(values) // 10]
    return f"{statistics.median(values):.2f} ({lo:.2f}–{hi:.2f})"


# --- 1. overhead per step --------------------------------------------------------------------------


async def bench_overhead(url: str, runs: int) -> tuple[str, dict[str, float]]:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY")
    agent = make_agent(url)
    for _ in range(3):  # warm up connections and caches
        await raw_openai_run(client)
        await agent.run("Add the numbers, step by step.")
    results = {}
    # Interleaved repetitions, so that drift in the machine hits both alike.
    raw, ours = [], []
    for _ in range(runs):
        raw += await timed(lambda: raw_openai_run(client), 1)
        ours += await timed(lambda: agent.run("Add the numbers, step by step."), 1)
    per_step = {"raw openai loop": [t / 5 for t in raw], "agentkit": [t / 5 for t in ours]}
    base = statistics.median(per_step["raw openai loop"])
    lines = ["| framework | ms per step, median (p10–p90) | ratio to raw loop |", "|---|---:|---:|"]
    for name, values in per_step.items():
        results[name] = statistics.median(values) / base
        lines.append(f"| {name} | {spread(values)} | {results[name]:.2f}× |")
    await client.close()
    return "\n".join(lines), results


# --- 2. concurrency ---------------------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def bench_concurrency(url: str, levels: list[int]) -> str:
    import openai

    lines = ["| runs | contender | wall s | runs/s | p50 ms | p99 ms | errors | MB per run |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for n in levels:
        for name in ("raw openai loop", "agentkit"):
            # openai's default HTTP client allows 1000 connections, as many as the largest level.
            client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY")
            agent = make_agent(url)
            latencies: list[float] = []
            errors = 0

            async def one() -> None:
                nonlocal errors
                start = time.perf_counter()
                try:
                    if name == "agentkit":
                        await agent.run("Add the numbers, step by step.")
                    else:
                        await raw_openai_run(client)
                    latencies.append(time.perf_counter() - start)
                except Exception:
                    errors += 1

            await one()  # warm-up
            latencies.clear()
            before = rss_mb()
            start = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            wall = time.perf_counter() - start
            grew = max(rss_mb() - before, 0.0)
            lat = sorted(latencies) or [float("nan")]
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            lines.append(f"| {n} | {name} | {wall:.2f} | {n / wall:.0f} | {statistics.median(lat) * 1000:.0f} | "
                         f"{p99 * 1000:.0f} | {errors} | {grew / n:.3f} |")  # fmt: skip
            await client.close()
    return "\n".join(lines)


# --- 3. import time ----------------------------------------------------------------------------


def bench_import(reps: int) -> str:
    def cost(code: str) -> list[float]:
        out = []
        for _ in range(reps):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            out.append(time.perf_counter() - start)
        return out

    empty = statistics.median(cost("pass"))
    lines = ["| import | seconds, median (p10–p90), interpreter start subtracted |", "|---|---:|"]
    for module in ("openai", "agentkit", "agentkit, RemoteModel", "agentkit, LocalModel"):
        code = f"import {module.split(',')[0]}" + ("; from agentkit import " + module.split(", ")[1] if "," in module else "")
        lines.append(f"| {module} | {spread([t - empty for t in cost(code)], 1)} |")
    return "\n".join(lines)


# --- 4. parallel tool calls ------------------------------------------------------------------------


async def bench_parallel(url: str, reps: int) -> str:
    import time as _time

    from agentkit import tool

    @tool
    async def pause(seconds: float) -> str:
        """Sleep (async)."""
        await asyncio.sleep(seconds)
        return "ok"

    @tool(name="pause")
    def pause_sync(seconds: float) -> str:
        """Sleep (in a thread)."""
        _time.sleep(seconds)
        return "ok"

    lines = ["| tool | N calls of 100 ms | run wall ms, median | ratio to N = 1 |", "|---|---:|---:|---:|"]
    for label, t in (("async", pause), ("sync", pause_sync)):
        base = None
        for n in (1, 4, 16):
            agent = make_agent(url, f"parallel-{n}", [t])
            await agent.run("go")
            walls = await timed(lambda agent=agent: agent.run("go"), reps)
            median = statistics.median(walls)
            base = base or median
            lines.append(f"| {label} | {n} | {median * 1000:.0f} | {median / base:.2f}× |")
    return "\n".join(lines)


# --- 5. early dispatch ---------------------------------------------------------------------------


async def bench_early(url: str) -> str:
    from agentkit import ToolCallStarted, TurnFinished, tool

    @tool
    async def pause(seconds: float) -> str:
        """Sleep."""
        await asyncio.sleep(seconds)
        return "ok"

    agent = make_agent(url, "tail-1.0", [pause])
    start = time.perf_counter()
    tool_start = end = None
    async for event in agent.stream("go"):
        if isinstance(event, ToolCallStarted) and tool_start is None:
            tool_start = time.perf_counter() - start
        if isinstance(event, TurnFinished) and end is None:
            end = time.perf_counter() - start
    return ("| time to tool start | time to end of message |\n|---:|---:|\n"
            f"| {tool_start * 1000:.0f} ms | {end * 1000:.0f} ms |")  # fmt: skip


# --- 6. streaming parser -----------------------------------------------------------------------------


def intern_s1_text(size: int, rng: random.Random) -> str:
    words = ["the", "temperature", "in", "the", "city", "is", "rising", "while", "the", "model", "thinks", "about", "what", "to", "call", "next"]
    parts = []
    total = 0
    while total < size:
        reasoning = " ".join(rng.choice(words) for _ in range(rng.randint(20, 80)))
        call = ('<|action_start|><|plugin|>\n{"name": "get_temperature_date", "parameters": {"location": '
                f'"City {rng.randint(0, 999)}", "date": "2024-11-{rng.randint(10, 28)}"}}}}<|action_end|>')  # fmt: skip
        part = f"<think>{reasoning}</think>Let me check. {call} Done.\n"
        parts.append(part)
        total += len(part)
    return "".join(parts)[:size]


def chunkings(text: str, size: int, rng: random.Random) -> list[tuple[str, list[str] | None]]:
    """The ways the parser benchmark feeds a text: 1 char (up to 1 MB), 16 chars, token-sized."""
    token_cuts = []
    i = 0
    while i < len(text):
        step = rng.randint(1, 6)
        token_cuts.append(text[i : i + step])
        i += step
    return [("1 char", list(text) if size <= 1_000_000 else None),
            ("16 chars", [text[i : i + 16] for i in range(0, len(text), 16)]),
            ("token-sized (1–6)", token_cuts)]  # fmt: skip


def bench_parser(sizes: list[int], reps: int, peer: bool = False) -> str:
    from agentkit.formats import INTERN_S1

    rng = random.Random(0)
    theirs: dict[str, dict[str, float]] = {}
    if peer and (ROOT / ".bench-venv" / "bin" / "python").exists():
        out = subprocess.run([ROOT / ".bench-venv" / "bin" / "python", str(ROOT / "tools" / "bench_parser_peer.py"),
                              ",".join(map(str, sizes)), str(reps)], capture_output=True, text=True, timeout=3600)  # fmt: skip
        try:
            theirs = json.loads(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            print(f"lmdeploy parser could not run: {out.stderr[-500:]}", file=sys.stderr)
    head = "| size | batch parse ms | chunks | streamed ms | streamed / batch |"
    lines = [head + (" lmdeploy 0.18 batch ms | lmdeploy streamed ms |" if theirs else ""),
             "|---:|---:|---|---:|---:|" + ("---:|---:|" if theirs else "")]  # fmt: skip
    for size in sizes:
        text = intern_s1_text(size, rng)
        batch = statistics.median(_time_it(lambda: INTERN_S1.parse(text), reps))
        peer_row = theirs.get(str(size), {})
        for label, chunks in chunkings(text, size, random.Random(1)):
            extra = f" {peer_row['batch'] * 1000:.1f} | {peer_row[label] * 1000:.1f} |" if label in peer_row else (" | |" if theirs else "")
            if chunks is None:
                lines.append(f"| {size:,} B | {batch * 1000:.1f} | {label} | (skipped: > 1 MB) | |" + extra)
                continue

            def run(chunks=chunks) -> None:
                parser = INTERN_S1.stream_parser()
                for c in chunks:
                    parser.feed(c)
                parser.close()

            streamed = statistics.median(_time_it(run, reps))
            lines.append(f"| {size:,} B | {batch * 1000:.1f} | {label} | {streamed * 1000:.1f} | {streamed / batch:.1f}× |" + extra)
    return "\n".join(lines)


def long_piece_text(kind: str, size: int) -> str:
    """One long piece of a message: a call argument, reasoning, or content, `size` characters."""
    filler = ("the quick brown fox jumps over the lazy dog " * (size // 44 + 1))[:size]
    if kind == "call argument":
        return f'<tool_call>\n{{"name": "write_file", "arguments": {{"text": "{filler}"}}}}\n</tool_call>'
    if kind == "reasoning":
        return f"<think>{filler}</think>Done."
    return filler


def bench_parser_long(sizes: list[int], reps: int) -> str:
    """Streaming one long piece (a 400 k argument...) in token-sized and 4-char chunks: O(n)?"""
    from agentkit.formats import QWEN3

    lines = [f"| piece | chunks | {' | '.join(f'{s // 1000} k chars, ms' for s in sizes)} | ratio {sizes[-1] // sizes[0]}× size |",
             "|---|---|" + "---:|" * (len(sizes) + 1)]  # fmt: skip
    for kind in ("call argument", "reasoning", "content"):
        for label in ("token-sized (1–6)", "4 chars"):
            times = []
            for size in sizes:
                text = long_piece_text(kind, size)
                if label == "4 chars":
                    chunks = [text[i : i + 4] for i in range(0, len(text), 4)]
                else:
                    chunks = chunkings(text, size, random.Random(1))[2][1] or []

                def run(chunks=chunks) -> None:
                    parser = QWEN3.stream_parser()
                    for c in chunks:
                        parser.feed(c)
                    parser.close()

                times.append(statistics.median(_time_it(run, reps)))
            cells = " | ".join(f"{t * 1000:.1f}" for t in times)
            lines.append(f"| {kind} | {label} | {cells} | {times[-1] / times[0]:.1f}× |")
    return "\n".join(lines)


def _time_it(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


# --- peers (own virtual environment) ------------------------------------------------------------------

PEERS = {"openai-agents": "openai-agents", "pydantic-ai": "pydantic-ai-slim[openai]", "smolagents": "smolagents"}


def peer_venv() -> Path:
    venv = ROOT / ".bench-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for name, spec in PEERS.items():
        module = name.replace("-", "_").replace("openai_agents", "agents")
        if subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode != 0:
            subprocess.run([python, "-m", "pip", "install", "-q", spec], capture_output=True)
    return python


def bench_peers(url: str, runs: int) -> str:
    python = peer_venv()
    out = subprocess.run([python, str(ROOT / "tools" / "bench_peers.py"), url, str(runs)],
                         capture_output=True, text=True, timeout=1800)  # fmt: skip
    try:
        results = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"peers failed to run: {out.stderr[-1000:]}"
    base = statistics.median(results["raw openai loop"])
    lines = ["| framework (peer venv) | ms per step, median (p10–p90) | ratio to raw loop |", "|---|---:|---:|"]
    for name, values in results.items():
        if isinstance(values, str):
            lines.append(f"| {name} | {values} | |")
        else:
            lines.append(f"| {name} | {spread(values)} | {statistics.median(values) / base:.2f}× |")
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import openai

    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, openai {openai.__version__}, "
            f"{time.strftime('%Y-%m-%d')}")  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--peers", action="store_true", help="also measure the peers (installs them in .bench-venv)")
    parser.add_argument("--skip", nargs="*", default=[], help="sections to skip")
    args = parser.parse_args(argv)
    q = args.quick
    sections: dict[str, str] = {}
    print(f"# agentkit benchmarks\n\n{machine()}\n")
    with BenchServer() as server:
        plan = [
            ("framework overhead per agent step (5-step run)", lambda: asyncio.run(bench_overhead(server.url, 5 if q else 40))[0]),
            ("concurrency", lambda: asyncio.run(bench_concurrency(server.url, [1, 10] if q else [1, 10, 100, 1000]))),
            ("import time", lambda: bench_import(2 if q else 7)),
            ("parallel tool calls", lambda: asyncio.run(bench_parallel(server.url, 1 if q else 5))),
            ("early dispatch (tool call first, then 1 s more of stream)", lambda: asyncio.run(bench_early(server.url))),
            ("streaming parser (Intern-S1 output)", lambda: bench_parser([10_000, 100_000] if q else [10_000, 100_000, 1_000_000, 10_000_000], 1 if q else 3, args.peers)),
            ("one long piece through the stream parser", lambda: bench_parser_long([10_000, 40_000] if q else [100_000, 400_000], 1 if q else 5)),
        ]  # fmt: skip
        if args.peers:
            plan.insert(1, ("peers, framework overhead per step", lambda: bench_peers(server.url, 40)))
        for title, run in plan:
            if any(s in title for s in args.skip):
                continue
            sections[title] = run()
            print(f"## {title}\n\n{sections[title]}\n", flush=True)
    if not any("kv" in s for s in args.skip):
        from tools import bench_kv

        sections["local KV reuse"] = bench_kv.main((["--quick"] if q else []) + (["--peer"] if args.peers else []))
    return sections


if __name__ == "__main__":
    main()
