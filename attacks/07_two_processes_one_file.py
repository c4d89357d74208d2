"""Attack: two processes resume one output file with groups at once (docs: "Two batches never run
the same sample: a batch holds a lock on its file, and a second one is refused")."""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import sys, anyio
sys.path.insert(0, {root!r})
from agentkit import Agent, tool
from agentkit.batch import run_many
from agentkit.testing import ScriptedModel
from tests.test_recording import qw_call

@tool
async def pay(amount: int) -> str:
    "Pay."
    with open({effects!r}, "a") as f:
        f.write("paid\n")
    await anyio.sleep(0.3)
    return "paid"

def respond(messages, *a, **k):
    return "done" if messages[-1]["role"] == "tool" else qw_call("pay", {{"amount": 5}})

async def main():
    agent = Agent(ScriptedModel(respond), [pay])
    try:
        await run_many(agent, [{{"id": "q", "input": "pay"}}], group_size=6, output={out!r}, resume=True,
                       progress=False, concurrency=2, reward=lambda r: 1.0)
        print("ran")
    except Exception as e:
        print("refused", type(e).__name__, str(e)[:100])
anyio.run(main)
"""


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    effects, out = folder / "effects.txt", folder / "runs.jsonl"
    code = CHILD.format(root=str(ROOT), effects=str(effects), out=str(out))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=120)[0].strip().splitlines()[-1] for p in procs]
    paid = len(effects.read_text().splitlines()) if effects.exists() else 0
    lines = out.read_text().splitlines()
    keys = [(__import__("json").loads(x)["id"], __import__("json").loads(x).get("sample")) for x in lines]
    print(f"  processes: {outs}; payments {paid}; lines {len(lines)}; distinct (id, sample) {len(set(keys))}")
    if paid > 6 or len(keys) != len(set(keys)):
        print("FOUND: two processes resuming one file ran a sample twice")
    else:
        print("OK: the second process was refused or waited; each sample ran once")


main()
