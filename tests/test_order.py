"""Calls that must run in order: `parallel_tools=False`, and a `sequential` tool's call (issue 30)."""

import anyio
import pytest

from agentkit import Agent, tool
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import collect, qw_call

LOG: list[str] = []


async def _work(name: str) -> str:
    LOG.append(f"start {name}")
    for _ in range(3):  # checkpoints: concurrent calls interleave here
        await anyio.sleep(0)
    LOG.append(f"end {name}")
    return name


@tool
async def step(which: str) -> str:
    """One step.

    Args:
        which: Which.
    """
    return await _work(which)


@pytest.fixture(autouse=True)
def _clear():
    LOG.clear()


def three_steps() -> ScriptedModel:
    return ScriptedModel([qw_call("step", which="a") + qw_call("step", which="b") + qw_call("step", which="c"), "ok"])


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_parallel_tools_false_runs_a_messages_calls_one_at_a_time_in_order(mode):
    agent = Agent(three_steps(), [step], parallel_tools=False)
    result = (await collect(agent, "go"))[-1].result if mode == "stream" else await agent.run("go")
    assert LOG == ["start a", "end a", "start b", "end b", "start c", "end c"]
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["a", "b", "c"]
    check_transcript(result.messages)


@pytest.mark.anyio
async def test_by_default_a_messages_calls_run_concurrently():
    await Agent(three_steps(), [step]).run("go")
    assert LOG[:3] == ["start a", "start b", "start c"]


@pytest.mark.anyio
async def test_parallel_tools_is_a_per_run_option_and_checked():
    from agentkit import UserError

    agent = Agent(three_steps(), [step])
    await agent.run("go", parallel_tools=False)
    assert LOG == ["start a", "end a", "start b", "end b", "start c", "end c"]
    with pytest.raises(UserError, match="parallel_tools"):
        await agent.run("go", parallel_tools="no")


@tool(sequential=True)
async def move(which: str) -> str:
    """A step that changes what the others see.

    Args:
        which: Which.
    """
    return await _work(which)


def with_a_sequential_call() -> ScriptedModel:
    calls = [("step", "a"), ("step", "b"), ("move", "m"), ("step", "c"), ("step", "d")]
    return ScriptedModel(["".join(qw_call(name, which=w) for name, w in calls), "ok"])


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_a_sequential_call_waits_for_the_calls_before_it_and_the_calls_after_it_wait_for_it(mode):
    agent = Agent(with_a_sequential_call(), [step, move])
    result = (await collect(agent, "go"))[-1].result if mode == "stream" else await agent.run("go")
    at = LOG.index
    assert max(at("end a"), at("end b")) < at("start m") < at("end m") < min(at("start c"), at("start d"))
    if mode == "run":  # the calls around m run together (streamed, a may start before b is complete)
        assert LOG[:2] == ["start a", "start b"] and LOG[6:8] == ["start c", "start d"]
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["a", "b", "m", "c", "d"]
    check_transcript(result.messages)


@pytest.mark.anyio
async def test_under_trio_too():
    import trio  # noqa: F401

    async def main():
        return await Agent(with_a_sequential_call(), [step, move]).run("go")

    LOG.clear()
    await anyio.to_thread.run_sync(lambda: anyio.run(main, backend="trio"))
    assert LOG[4:6] == ["start m", "end m"] and sorted(LOG[:4]) == ["end a", "end b", "start a", "start b"]


def test_tools_are_not_sequential_unless_asked():
    from agentkit import Tool

    assert step.sequential is False and move.sequential is True
    made = Tool.from_schema("f", {"type": "object", "properties": {}}, lambda: 1)
    assert made.sequential is False
    assert Tool.from_schema("g", {"type": "object", "properties": {}}, lambda: 1, sequential=True).sequential is True


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_a_call_that_waits_for_a_timed_out_thread_is_not_run(stream):
    # Attacker review of issue 30 (#1): the next sequential call ran beside the abandoned thread.
    import threading

    release = threading.Event()

    @tool(sequential=True)
    def cd(folder: str) -> str:
        """Change folder.

        Args:
            folder: Where.
        """
        LOG.append("start cd")
        release.wait(60)  # until the test is done: it outlives its tool_timeout
        return folder

    @tool(sequential=True)
    def mkdir(folder_name: str) -> str:
        """Make a folder.

        Args:
            folder_name: Its name.
        """
        LOG.append("start mkdir")
        return folder_name

    model = ScriptedModel([qw_call("cd", folder="docs") + qw_call("mkdir", folder_name="x") + qw_call("step", which="s"), "ok"])
    agent = Agent(model, [cd, mkdir, step], tool_timeout=0.2)
    try:
        result = (await collect(agent, "go"))[-1].result if stream else await agent.run("go")
    finally:
        release.set()
    answers = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert "start mkdir" not in LOG and "start s" not in LOG
    assert answers[1] == answers[2] == (
        "Error: this call was not run: an earlier call of this message timed out and may still be running.")
    check_transcript(result.messages)
