"""What an MCP tool costs per call, next to the same function as a plain `@tool`.

    python tools/bench_mcp.py [--calls 500] [--rounds 3]

The function is `multiply` from tests/mcp_servers/agentkit_tools.py. Contenders, each called
the way the agent loop calls a tool (`Tool.acall`: check the arguments, run, take the result):

- ``plain @tool``: the function in this process;
- ``MCP stdio``: the same function served by ``agentkit mcp serve`` in a child process, through
  an entered `MCPToolset.stdio` (one connection for all calls);
- ``MCP Streamable HTTP``: the same server with ``--http`` on 127.0.0.1, through `MCPToolset.http`.

Calls are sequential (per-call latency, not throughput); the contenders take turns in
`--rounds` rounds. Prints a markdown table: median µs per call (p10-p90) and the overhead over
the plain tool.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEC = "tests.mcp_servers.agentkit_tools:TOOLS"


async def timed(tool, calls: int) -> list[float]:
    out = []
    for i in range(calls):
        start = time.perf_counter()
        value = await tool.acall({"a": i, "b": 3})
        out.append(time.perf_counter() - start)
        assert str(value) == str(i * 3), value
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from agentkit.mcp import MCPToolset
    from tests.mcp_servers import free_port, wait_for_port
    from tests.mcp_servers.agentkit_tools import multiply

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    port = free_port()
    http = subprocess.Popen([sys.executable, "-m", "agentkit", "mcp", "serve", SPEC, "--http", f"127.0.0.1:{port}"],
                            cwd=ROOT, env=env)  # fmt: skip
    try:
        wait_for_port(port, http)
        stdio = MCPToolset.stdio(sys.executable, ["-m", "agentkit", "mcp", "serve", SPEC], cwd=ROOT,
                                 env={"PYTHONPATH": str(ROOT)}, include=["multiply"])  # fmt: skip
        over_http = MCPToolset.http(f"http://127.0.0.1:{port}/mcp", include=["multiply"])
        async with stdio, over_http:
            contenders = {
                "plain @tool": multiply,
                "MCP stdio": (await stdio.list_tools())[0],
                "MCP Streamable HTTP": (await over_http.list_tools())[0],
            }
            samples: dict[str, list[float]] = {name: [] for name in contenders}
            for tool in contenders.values():  # warm-up
                await timed(tool, 20)
            for _ in range(args.rounds):
                for name, tool in contenders.items():
                    samples[name] += await timed(tool, args.calls)
    finally:
        http.terminate()
        http.wait()

    base = statistics.median(samples["plain @tool"])
    print(f"{args.rounds} rounds x {args.calls} sequential calls each\n")
    print("| tool | µs per call, median (p10–p90) | overhead over plain, µs |")
    print("|---|---|---|")
    for name, xs in samples.items():
        xs.sort()
        med, p10, p90 = statistics.median(xs), xs[len(xs) // 10], xs[len(xs) * 9 // 10]
        print(f"| {name} | {med * 1e6:.0f} ({p10 * 1e6:.0f}–{p90 * 1e6:.0f}) | {(med - base) * 1e6:.0f} |")


if __name__ == "__main__":
    anyio.run(main)
