"""Attack: a run whose reward failed (RewardError: `.error` set, `.reward` None) still has its
trajectory, and `agentkit.trajectories.rows` exports it: a verl/SkyRL/slime row with reward None
in the middle of a scored group (the docs: "A result without a trajectory (not recorded, or a
failed run) gives no row"; the batch itself counts such a run as failed)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio

from agentkit import Agent
from agentkit.batch import run_many
from agentkit.trajectories import rows
from tests.test_recording import CharRecorder


def reward(result):
    if result.sample == 1:
        raise RuntimeError("judge down")
    return 1.0


async def main() -> None:
    agent = Agent(CharRecorder(lambda messages, *a, **k: "answer"))
    results = await run_many(agent, [{"id": "q", "input": "a"}], group_size=3, record=True, reward=reward,
                             progress=False)  # fmt: skip
    print(f"  results: {[(r.sample, r.reward, r.error) for r in results]}")
    exported = rows(results)
    print(f"  verl rows: {[(r['sample'], r['reward_score']) for r in exported]}")
    if any(r["reward_score"] is None for r in exported):
        print("FOUND: a run whose reward failed is exported as a trainer row with reward None")
    else:
        print("OK: failed-reward runs give no row")


anyio.run(main)
