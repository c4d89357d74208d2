"""Check of docs/trajectories.md: "LocalModel records natively ... with its KV cache reuse on: each
call's prompt extends the previous call's tokens, so the cached KV covers all of it but the new
messages". Measured by LocalModel.stats (prompt and reused tokens) on a 4-call recorded run."""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from agentkit import Agent, LocalModel, Sampling
from tests.test_agent import get_current_temperature
from tools.build_test_models import build_tiny


def main() -> None:
    path = build_tiny("qwen3", Path(tempfile.mkdtemp()) / "qwen3")
    bad = []
    for batching in (False, True):
        model = LocalModel(path, sampling=Sampling(temperature=0, max_tokens=16), device_map=None,
                           dtype=torch.float32, batching=batching)  # fmt: skip
        choice = lambda turn: "required" if turn < 3 else "none"  # noqa: E731
        agent = Agent(model, [get_current_temperature], tool_choice=choice, thinking=False, max_turns=4)
        before = dict(model.stats)
        result = agent.run_sync("hi", record=True)
        t = result.trajectory
        prompt = model.stats["prompt_tokens"] - before.get("prompt_tokens", 0)
        reused = model.stats["reused_tokens"] - before.get("reused_tokens", 0)
        print(f"  batching={batching}: calls={len(t.turn_starts)} prompt tokens={prompt} reused={reused} ")
        if len(t.turn_starts) > 1 and reused == 0:
            bad.append(f"batching={batching}")
    if bad:
        print(f"FOUND: a recorded run reuses no KV ({bad})")
    else:
        print("OK: recorded runs reuse the KV of their earlier calls")


main()
