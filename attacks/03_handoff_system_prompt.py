"""Attack: a handoff between agents of the same model whose system prompts differ in presence.

`Handoffs.before_request` deletes the first agent's system message and inserts the target's, so
the request's length changes by one at the handoff, while `Recording.seen` counts the previous
request's messages. a (no system) -> b (system): the model's own transfer call is rendered again
as a new assistant message (a re-rendered turn, mask 0). a (system) -> b (no system): the
transfer's tool answer is skipped.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentkit import Agent
from tests.test_recording import CharRecorder, qw_call


def run(system_a, system_b):
    model = CharRecorder([qw_call("transfer_to_b"), "done"])
    b = Agent(model, name="b", system=system_b)
    a = Agent(model, name="a", system=system_a, handoffs=[b])
    result = a.run_sync("hi", record=True)
    t = result.trajectory
    second = t.turn_starts[1]
    # the tokens fed between the two calls
    gap = [chr(i) for i, m in zip(t.response_ids[:second], t.response_mask[:second], strict=True) if not m]
    return "".join(gap), result


def main() -> None:
    found = []
    fed, _ = run(None, "I am b.")
    print(f"  a(no system) -> b(system): fed between calls: {fed!r}")
    if "<assistant>" in fed:
        found.append("a(no system)->b(system): the model's transfer call is fed again as a rendered assistant turn")
    fed, _ = run("I am a.", None)
    print(f"  a(system) -> b(no system): fed between calls: {fed!r}")
    if "<tool>" not in fed:
        found.append("a(system)->b(no system): the transfer's tool answer never reaches the recorded model")
    if found:
        print("FOUND: " + "; ".join(found))
    else:
        print("OK: handoffs keep one token sequence")


main()
