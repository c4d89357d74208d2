"""Attack: a reward that returns a huge int (a Real, "finite" to a reader) crashes the batch.

`score` calls `math.isfinite(value)` outside its try: for `10**400` it raises OverflowError, which
escapes `drive`'s task group: the runs in flight are cancelled after their tools ran, their lines
are never written, and a resume runs their tools again (a side effect twice for one (id, sample)).
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
started = 0


@tool
async def pay(amount: int) -> str:
    """Pay (a side effect)."""
    global started
    started += 1
    with effects.open("a") as f:
        f.write("paid\n")
    if started > 1:
        await anyio.sleep(1.5)  # still in flight when sample 0 is scored
    return "paid"


def respond(messages, *a, **k):
    return "done" if messages[-1]["role"] == "tool" else qw_call("pay", {"amount": 5})


calls = 0


def reward(result):
    global calls
    calls += 1
    return 10**400 if calls == 1 else 1.0


async def main() -> None:
    out = folder / "runs.jsonl"
    agent = Agent(ScriptedModel(respond), [pay])
    try:
        await run_many(agent, [{"id": "q", "input": "pay"}], group_size=4, reward=reward, output=out, progress=False,
                       concurrency=4)  # fmt: skip
        print("  first batch finished")
        crashed = None
    except BaseException as e:
        crashed = e
        print(f"  first batch raised {type(e).__name__}: {str(e)[:80]}")
    lines = out.read_text().splitlines() if out.exists() else []
    first_effects = len(effects.read_text().splitlines())
    print(f"  lines written: {len(lines)}, payments made: {first_effects}")
    await run_many(agent, [{"id": "q", "input": "pay"}], group_size=4, output=out, resume=True, progress=False)
    total = len(effects.read_text().splitlines())
    print(f"  after resume: payments made {total} for 4 samples")
    if crashed is not None and (total > 4 or len(lines) < first_effects):
        print(f"FOUND: a reward returning 10**400 crashes run_many with {type(crashed).__name__} (not a RewardError "
              f"on that run); {first_effects - len(lines)} runs whose tool ran were not written; the resume paid "
              f"{total} times for 4 samples")  # fmt: skip
    else:
        print("OK: a huge-int reward is a RewardError on its run; nothing is lost or repeated")


anyio.run(main)
