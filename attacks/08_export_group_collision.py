"""Attack: agentkit.trajectories rows merge distinct groups.

run_many keys inputs by `json.dumps(id)`: ids 1 and "1" are two inputs (two groups). The export's
`_uid` writes a str id as is and any other as JSON, so both become uid "1": verl's GRPO advantage
(grouped by uid), SkyRL's instance_id and slime's group_index put two inputs' samples in one group.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio

from agentkit import Agent
from agentkit.batch import run_many
from agentkit.trajectories import rows
from tests.test_recording import CharRecorder


async def main() -> None:
    agent = Agent(CharRecorder(lambda messages, *a, **k: "answer"))
    results = await run_many(agent, [{"id": 1, "input": "a"}, {"id": "1", "input": "b"}], group_size=2, record=True,
                             reward=lambda r: 1.0 if r.id == 1 else 0.0, progress=False)  # fmt: skip
    print(f"  run_many groups: {[(r.group, r.sample) for r in results]}")
    verl = {r["uid"] for r in rows(results)}
    slime = {r["group_index"] for r in rows(results, view="slime")}
    print(f"  verl uids: {verl}; slime group_index: {slime}")
    if len(verl) < 2 or len(slime) < 2:
        print("FOUND: two inputs (ids 1 and '1') are one group in the exported rows: their advantages mix")
    else:
        print("OK: distinct groups stay distinct")


anyio.run(main)
