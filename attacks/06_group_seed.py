"""Attack: `run_many(group_size=n, seed=S)` for a reproducible GRPO group.

The issue asks for `Sampling(seed=...)` "for reproducible groups"; docs/trajectories.md says "For a
group of samples of one input, give each its own seed (the same seed gives the same tokens)". But
run_many's run options apply to every sample alike and it takes no per-sample seed: a seeded
group is n copies of one run (zero advantage for every sample), an unseeded one is not reproducible.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio
import torch

from agentkit import Agent, LocalModel, Sampling
from agentkit.batch import run_many
from tools.build_test_models import build_tiny


async def main() -> None:
    path = build_tiny("qwen3", Path(tempfile.mkdtemp()) / "qwen3")
    model = LocalModel(path, sampling=Sampling(temperature=0, max_tokens=12), device_map=None, dtype=torch.float32)
    agent = Agent(model, thinking=False, max_turns=2)
    results = await run_many(agent, [{"id": "q", "input": "hello"}], group_size=4, record=True, temperature=1.0,
                             seed=7, progress=False)  # fmt: skip
    distinct = {tuple(r.trajectory.response_ids) for r in results}
    print(f"  group of 4, seed=7, temperature=1.0: {len(distinct)} distinct trajectories")
    if len(distinct) == 1:
        print(
            "FOUND: a seeded group's samples are all the same run (no per-sample seed in run_many); "
            "groups can be diverse or reproducible, not both"
        )
    else:
        print("OK: a seeded group differs per sample")


anyio.run(main)
