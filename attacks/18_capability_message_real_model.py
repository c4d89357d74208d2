"""Attack 02 on the real backend: a tiny LocalModel, a capability that adds a reminder to each
request only. The tool message the loop wrote (an answer to the model's forced call) must be in
the recorded token sequence; with the reminder it is not."""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from agentkit import Agent, Capability, LocalModel, Sampling
from tests.test_agent import get_current_temperature
from tools.build_test_models import build_tiny


class Reminder(Capability):
    async def before_request(self, run, request):
        request.messages.append({"role": "user", "content": "REMEMBER THE RULES"})


def main() -> None:
    path = build_tiny("qwen3", Path(tempfile.mkdtemp()) / "qwen3")
    model = LocalModel(path, sampling=Sampling(temperature=0, max_tokens=16), device_map=None, dtype=torch.float32)
    choice = lambda turn: "required" if turn < 1 else "none"  # noqa: E731
    found = []
    for caps in ([], [Reminder()]):
        agent = Agent(model, [get_current_temperature], tool_choice=choice, thinking=False, max_turns=2,
                      capabilities=caps)  # fmt: skip
        result = agent.run_sync("hi", record=True)
        t = result.trajectory
        fed = model.tokenizer.decode([i for i, m in zip(t.response_ids, t.response_mask, strict=True) if not m])
        tool_text = next(m["content"] for m in result.messages if m["role"] == "tool")
        present = tool_text[:40] in fed
        print(f"  capabilities={[type(c).__name__ for c in caps]}: tool answer in the recorded tokens: {present}")
        if caps and not present:
            found.append("with a per-request reminder the tool answer is missing from the recorded sequence")
    print("FOUND: " + "; ".join(found) if found else "OK: the tool answer is recorded")


main()
