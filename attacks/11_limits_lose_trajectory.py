"""Attack: a recorded run that hits a limit (max_turns, usage limits) or fails in a tool-approval
hook loses its whole trajectory: the error carries the messages but no tokens, and run_many's
result has `trajectory=None`. RL rollouts keep such runs (truncated, usually reward 0): here every
token the model generated for them is gone."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio

from agentkit import Agent, MaxTurnsExceeded, tool
from agentkit.batch import run_many
from tests.test_recording import CharRecorder, qw_call


@tool
def get(city: str) -> str:
    """Get."""
    return "7"


async def main() -> None:
    loops = lambda messages, *a, **k: qw_call("get", {"city": "Oslo"})  # noqa: E731 - never answers
    agent = Agent(CharRecorder(loops), [get], max_turns=3)
    try:
        await agent.run("q", record=True)
        carried = "no error"
    except MaxTurnsExceeded as e:
        carried = getattr(e, "trajectory", None)
        print(f"  MaxTurnsExceeded: messages={len(e.messages)}, trajectory={carried!r}")
    results = await run_many(agent, ["q"], record=True, progress=False)
    print(f"  run_many: error={results[0].error!r}, trajectory={results[0].trajectory!r}")
    if carried is None and results[0].trajectory is None:
        print("FOUND: a recorded run that hits max_turns keeps no trajectory (3 model calls' tokens lost)")
    else:
        print("OK: a run stopped by a limit keeps its tokens")


anyio.run(main)
