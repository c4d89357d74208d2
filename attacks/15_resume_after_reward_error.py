"""Attack: a run whose reward failed (the judge was down) cannot be scored again on resume.

Its line holds the whole trajectory, but a resume reads it back as done and never calls the
reward again ("A reward is not called again for a run read back from the file"): the only way to
score it is to delete the line, which runs the agent (and its tools) again."""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio

from agentkit import Agent
from agentkit.batch import run_many
from tests.test_recording import CharRecorder

down = True


def judge(result):
    if down:
        raise ConnectionError("judge down")
    return 1.0


async def main() -> None:
    global down
    out = Path(tempfile.mkdtemp()) / "runs.jsonl"
    agent = Agent(CharRecorder(lambda messages, *a, **k: "answer"))
    first = await run_many(agent, ["q"], group_size=2, record=True, reward=judge, output=out, progress=False)
    print(f"  first: {[(r.sample, r.reward, r.error) for r in first]}")
    down = False
    again = await run_many(agent, ["q"], group_size=2, record=True, reward=judge, output=out, resume=True,
                           progress=False)  # fmt: skip
    print(f"  resumed with the judge up: {[(r.sample, r.reward, r.error) for r in again]}")
    if all(r.reward is None for r in again):
        print("FOUND: a resume never re-scores runs whose reward failed, though their trajectories are in the file")
    else:
        print("OK: a resume scores runs whose reward failed")


anyio.run(main)
