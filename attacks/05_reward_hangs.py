"""Attack: a reward that hangs (a judge model that never answers) hangs the batch, and stopping
it (Ctrl-C, a deadline) loses every run that had finished but waits for its reward: the line is
written only after the reward returns, so the resume runs those runs' tools again.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio

from agentkit import Agent, tool
from agentkit.batch import run_many
from agentkit.testing import ScriptedModel
from tests.test_recording import qw_call

folder = Path(tempfile.mkdtemp())
effects = folder / "effects.txt"


@tool
def pay(amount: int) -> str:
    """Pay (a side effect)."""
    with effects.open("a") as f:
        f.write("paid\n")
    return "paid"


def respond(messages, *a, **k):
    return "done" if messages[-1]["role"] == "tool" else qw_call("pay", {"amount": 5})


async def judge(result):
    await anyio.sleep_forever()  # the judge never answers


async def main() -> None:
    out = folder / "runs.jsonl"
    agent = Agent(ScriptedModel(respond), [pay])
    with anyio.move_on_after(3) as scope:
        await run_many(agent, [{"id": "q", "input": "pay"}], group_size=2, reward=judge, output=out, progress=False)
    hung = scope.cancelled_caught
    lines = out.read_text().splitlines() if out.exists() else []
    paid = len(effects.read_text().splitlines())
    print(f"  batch hung: {hung}; lines written: {len(lines)}; payments: {paid}")
    await run_many(agent, [{"id": "q", "input": "pay"}], group_size=2, output=out, resume=True, progress=False)
    total = len(effects.read_text().splitlines())
    print(f"  after resume: payments {total} for 2 samples")
    if hung and total > 2:
        print(f"FOUND: a hanging reward hangs run_many (no reward timeout); stopped, the finished runs are not "
              f"written and the resume paid {total} times for 2 samples")  # fmt: skip
    else:
        print("OK: a hanging reward loses nothing")


anyio.run(main)
