"""Attack: the recorded logprobs under top-k/top-p/min-p sampling, concurrency (batched, rows of
different lengths), a token budget that cuts calls, and a forced call opening: each must equal a
teacher-forced pass over prompt_ids + response_ids (1e-3), and each prompt must be the tokens so far."""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio
import torch

from agentkit import Agent, LocalModel, Sampling
from tests.test_agent import get_current_temperature
from tests.test_recording import Spy, check_shape, forced_logprob_gap
from tools.build_test_models import build_tiny


async def main() -> None:
    path = build_tiny("qwen3", Path(tempfile.mkdtemp()) / "qwen3")
    worst, bad = 0.0, []
    for batching in (True, False):
        model = LocalModel(path, sampling=Sampling(temperature=0.9, top_k=5, top_p=0.7, min_p=0.05, max_tokens=10),
                           device_map=None, dtype=torch.float32, batching=batching)  # fmt: skip
        spy = Spy(model)
        choice = lambda turn: "required" if turn % 2 == 0 else "auto"  # noqa: E731
        results = {}

        async def one(i, spy=spy, choice=choice, results=results):
            agent = Agent(spy, [get_current_temperature], tool_choice=choice, thinking=False, max_turns=4)
            try:
                results[i] = await agent.run("x " * (i * 7 + 1), record=True, seed=i)
            except Exception as e:
                results[i] = e

        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(one, i)
        for i, r in results.items():
            if isinstance(r, Exception):
                continue
            t = r.trajectory
            check_shape(t, r)
            gap = forced_logprob_gap(model, t)
            worst = max(worst, gap)
            if gap > 1e-3:
                bad.append((batching, i, gap))
        checked = sum(not isinstance(r, Exception) for r in results.values())
        print(f"  batching={batching}: {checked} runs checked")
    print(f"  worst gap {worst:.2e}")
    if bad:
        print(f"FOUND: logprobs off by more than 1e-3: {bad}")
    else:
        print("OK: filtered, batched, cut and forced recorded runs are token-exact within 1e-3")


anyio.run(main)
