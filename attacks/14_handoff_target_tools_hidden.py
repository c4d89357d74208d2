"""Attack: after a handoff in a recorded run the model is never told the target agent's tools.

docs/trajectories.md: "The target's system prompt and tools are not rendered again: they are in
the first prompt's tokens as the first agent's." They are not: the first prompt holds the FIRST
agent's system prompt and tools. `continued_ids` renders the target's tools into both the
stand-in and the full rendering, and cuts the common prefix off, so the target's tool list never
reaches the token sequence: the recorded model calls the target's tools blind and still sees the
first agent's (no longer callable). A run without record shows it the target's.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from agentkit import LocalModel, Sampling, tool
from agentkit._tokens import TokenRequest
from tools.build_test_models import build_tiny


@tool
def first_agents_tool(x: str) -> str:
    """Only the first agent has this."""
    return x


@tool
def refund_order(order: str) -> str:
    """Only the target agent (b) has this."""
    return order


def main() -> None:
    path = build_tiny("qwen3", Path(tempfile.mkdtemp()) / "qwen3")
    model = LocalModel(path, sampling=Sampling(temperature=0, max_tokens=8), device_map=None, dtype=torch.float32,
                       batching=False)  # fmt: skip
    user = {"role": "user", "content": "refund order 7"}
    first, _, _ = model._render([user], [first_agents_tool], False, None, TokenRequest())
    ids = first["input_ids"][0].tolist()
    call = {"id": "c1", "type": "function", "function": {"name": "transfer_to_b", "arguments": "{}"}}
    assistant = {"role": "assistant", "content": "", "tool_calls": [call]}
    answer = {"role": "tool", "tool_call_id": "c1", "content": "Transferred to b."}
    written = '<tool_call>\n{"name": "transfer_to_b", "arguments": {}}\n</tool_call><|im_end|>'
    generated = model.tokenizer.encode(written, add_special_tokens=False)
    second, _, _ = model._render([user, assistant, answer], [refund_order], False, None,
                                 TokenRequest(ids=ids + generated, seen=2))  # fmt: skip
    text = model.tokenizer.decode(second["input_ids"][0].tolist())
    plain, _, _ = model._render([user, assistant, answer], [refund_order], False, None)
    plain_text = model.tokenizer.decode(plain["input_ids"][0].tolist())
    print(
        f"  recorded 2nd prompt names refund_order: {'refund_order' in text}; first_agents_tool: "
        f"{'first_agents_tool' in text}; a run without record names refund_order: {'refund_order' in plain_text}"
    )
    if "refund_order" not in text and "refund_order" in plain_text:
        print(
            "FOUND: after a handoff the recorded model never sees the target's tools (the docs say they are in "
            "the first prompt); it still sees the first agent's"
        )
    else:
        print("OK: the target's tools reach the recorded model")


main()
