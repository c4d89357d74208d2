"""Attack: a huge group_size. run_many builds every member of an input's group (and looks each up
in the journal) before the first of them starts, and the final list needs all of them: a typo like
group_size=10**7 spends seconds and gigabytes before any run (there is no upper bound or warning)."""

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio

from agentkit import Agent
from agentkit.batch import run_many
from agentkit.testing import ScriptedModel

first: list[float] = []


def respond(messages, *a, **k):
    first.append(time.perf_counter())
    return "ok"


async def main() -> None:
    agent = Agent(ScriptedModel(respond))
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:

        async def batch() -> None:
            await run_many(agent, ["q"], group_size=2 * 10**6, progress=False, concurrency=1)

        tg.start_soon(batch)
        while not first:  # stop the batch at its first model call
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    delay = (first[0] - start) if first else float("nan")
    print(f"  group_size=2e6: first model call after {delay:.2f}s; peak RSS {rss:.0f} MiB")
    if delay > 1.0:
        print(
            f"FOUND: group_size=2e6 builds the whole group before the first run ({delay:.1f}s, {rss:.0f} MiB); "
            "no bound or warning"
        )
    else:
        print("OK: a huge group starts at once")


anyio.run(main)
