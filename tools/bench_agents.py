"""The cost of calling an agent as a tool (`Agent.as_tool`) over calling a plain tool.

    python tools/bench_agents.py            # 40 interleaved runs of each
    python tools/bench_agents.py --quick    # a smoke run

A scripted OpenAI-compatible server (`tools/bench_server.py`, its own process, 127.0.0.1)
answers at once. The caller's model (``ask-5``) calls ``ask`` five times, one call per turn,
then answers. The plain ``ask`` tool returns "done"; the sub-agent ``ask`` is an agent whose
model (``answer``) answers "done" at once: the difference is what a sub-run costs (its own
model call, through the same server, and agentkit's work around it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.bench import BenchServer, machine, spread, timed  # noqa: E402

CALLS = 5


async def bench(url: str, runs: int) -> str:
    from agentkit import Agent, RemoteModel, tool

    @tool
    def ask(input: str) -> str:
        """Ask.

        Args:
            input: The question.
        """
        return "done"

    def caller(t):  # each its own client, as two agents would have
        return Agent(RemoteModel(url, server="vllm", model=f"ask-{CALLS}"), [t], max_turns=50)

    answer = RemoteModel(url, server="vllm", model="answer")

    @tool(name="ask")
    async def ask_model(input: str) -> str:
        """Ask.

        Args:
            input: The question.
        """
        return (await answer.complete([{"role": "user", "content": input}])).content

    sub = Agent(RemoteModel(url, server="vllm", model="answer"), name="ask")
    agents = {"plain tool": caller(ask), "plain tool that calls the model itself": caller(ask_model),
              "agent as a tool": caller(sub.as_tool())}  # fmt: skip
    for _ in range(3):  # warm up connections and caches
        for agent in agents.values():
            await agent.run("go")
    times: dict[str, list[float]] = {name: [] for name in agents}
    for _ in range(runs):  # interleaved, so that drift in the machine hits all alike
        for name, agent in agents.items():
            times[name] += await timed(lambda agent=agent: agent.run("go"), 1)
    per_call = {name: [t / CALLS for t in values] for name, values in times.items()}
    base = statistics.median(per_call["plain tool"])
    extra = statistics.median(per_call["agent as a tool"]) - base
    own = statistics.median(per_call["agent as a tool"]) - statistics.median(per_call["plain tool that calls the model itself"])
    lines = ["| the tool the model calls | ms per call (caller's turn included), median (p10–p90) | ratio |",
             "|---|---:|---:|"]  # fmt: skip
    for name, values in per_call.items():
        lines.append(f"| {name} | {spread(values)} | {statistics.median(values) / base:.2f}× |")
    lines.append(f"\nA sub-agent call costs {extra * 1000:.2f} ms more than a plain tool call (medians); "
                 f"{own * 1000:.2f} ms more than a tool that makes the same model call itself (agentkit's sub-run).")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args(argv)
    print(f"# agent as a tool vs a plain tool\n\n{machine()}\n")
    with BenchServer() as server:
        table = asyncio.run(bench(server.url, 3 if args.quick else args.runs))
    print(table, flush=True)
    return table


if __name__ == "__main__":
    main()
