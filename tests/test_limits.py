"""`UsageLimits`: requests, tool calls and tokens, each stopping the run with a valid transcript."""

import contextlib

import pytest

from agentkit import Agent, ToolCallFinished, UsageLimitExceeded, UsageLimits, UserError, tool
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import qw_call, run_in

MODES = ["run", "stream"]
RUNS: list[str] = []


@tool
def ping(n: int) -> str:
    """Ping.

    Args:
        n: Which.
    """
    RUNS.append(n)
    return f"pong {n}"


def looping(calls_per_turn: int = 1) -> ScriptedModel:
    return ScriptedModel(lambda messages: "".join(qw_call("ping", n=i) for i in range(calls_per_turn)), format="qwen3")


@pytest.fixture(autouse=True)
def _clear():
    RUNS.clear()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bound", [1, 3])
async def test_max_requests_stops_before_the_call_that_would_go_over(mode, bound):
    m = looping()
    agent = Agent(m, [ping], usage_limits=UsageLimits(max_requests=bound))
    with pytest.raises(UsageLimitExceeded) as info:
        await run_in(mode, agent, "go")
    assert len(m.calls) == bound
    assert info.value.usage.requests == bound
    assert str(info.value) == f"the next model call would exceed max_requests={bound}"
    check_transcript(info.value.messages)
    assert len(info.value.messages) == 1 + 2 * bound


@pytest.mark.anyio
async def test_max_requests_zero_sends_nothing():
    m = looping()
    with pytest.raises(UsageLimitExceeded):
        await Agent(m, [ping]).run("go", usage_limits=UsageLimits(max_requests=0))
    assert m.calls == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_no_more_than_max_tool_calls_run(mode):
    m = looping(calls_per_turn=2)
    agent = Agent(m, [ping], usage_limits=UsageLimits(max_tool_calls=3))
    with pytest.raises(UsageLimitExceeded) as info:
        await run_in(mode, agent, "go")
    assert len(RUNS) == 3
    assert info.value.usage.tool_calls == 3
    assert len(m.calls) == 2
    messages = info.value.messages
    check_transcript(messages)
    answers = [x["content"] for x in messages if x["role"] == "tool"]
    assert sorted(answers[:2]) == ["pong 0", "pong 1"]
    assert sorted(answers[2:]) == ["Error: this call was not run: the run's limit on tool calls was reached.", "pong 0"] or \
        sorted(answers[2:]) == ["Error: this call was not run: the run's limit on tool calls was reached.", "pong 1"]  # fmt: skip
    assert str(info.value) == "max_tool_calls=3 reached"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_token_limit_stops_the_run_before_the_responses_calls_run(mode):
    m = looping()  # each response: qw_call text, its length in completion tokens
    per_call = len(qw_call("ping", n=0))
    agent = Agent(m, [ping], usage_limits=UsageLimits(max_output_tokens=per_call * 2 - 1))
    with pytest.raises(UsageLimitExceeded) as info:
        await run_in(mode, agent, "go")
    assert RUNS == [0]  # the second response's call did not run
    assert info.value.usage.completion_tokens == per_call * 2
    assert str(info.value) == f"{per_call * 2} tokens exceed max_output_tokens={per_call * 2 - 1}"
    check_transcript(info.value.messages)
    assert info.value.messages[-1]["content"].startswith("Error: this call was not run: ")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("limits", "name"),
    [
        (UsageLimits(max_input_tokens=0), "max_input_tokens=0"),
        (UsageLimits(max_total_tokens=10), "max_total_tokens=10"),
    ],
)
async def test_input_and_total_token_limits(limits, name):
    m = ScriptedModel(["a long enough answer", "x"], format="qwen3")
    with pytest.raises(UsageLimitExceeded, match=name):
        await Agent(m, usage_limits=limits).run("go")


@pytest.mark.anyio
async def test_within_limits_nothing_changes():
    m = ScriptedModel([qw_call("ping", n=1), "done"], format="qwen3")
    limits = UsageLimits(max_requests=2, max_tool_calls=1, max_output_tokens=10_000)
    result = await Agent(m, [ping], usage_limits=limits).run("go")
    assert result.output == "done" and RUNS == [1]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_bounds_are_refused(bad):
    with pytest.raises(UserError, match="must be a non-negative int or None"):
        UsageLimits(max_requests=bad)


def test_limits_tokens_says_whether_any_token_bound_is_set():
    assert not UsageLimits().limits_tokens
    assert not UsageLimits(max_requests=1, max_tool_calls=1).limits_tokens
    for name in ("max_input_tokens", "max_output_tokens", "max_total_tokens"):
        assert UsageLimits(**{name: 0}).limits_tokens


@pytest.mark.anyio
async def test_a_token_bound_is_reached_not_exceeded_at_equality():
    m = ScriptedModel(["exactly"], format="qwen3")  # 7 completion tokens, 1 prompt token
    limits = UsageLimits(max_output_tokens=7, max_input_tokens=1, max_total_tokens=8)
    assert (await Agent(m, usage_limits=limits).run("go")).output == "exactly"


@pytest.mark.anyio
async def test_a_call_refused_by_the_tool_call_limit_reports_why():
    events = []

    async def gather():
        async with contextlib.aclosing(Agent(looping(calls_per_turn=3), [ping]).stream(
                "go", usage_limits=UsageLimits(max_tool_calls=2))) as stream:  # fmt: skip
            async for event in stream:
                events.append(event)

    with pytest.raises(UsageLimitExceeded):
        await gather()
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert sorted([e.error for e in finished], key=str) == [None, None, "the run's limit on tool calls was reached"]
    refused = next(e for e in finished if e.error is not None)
    assert refused.content == "Error: this call was not run: the run's limit on tool calls was reached."


@pytest.mark.anyio
async def test_a_turn_over_max_tool_calls_stops_on_the_limit_before_the_output_is_judged():
    # Attacker review of issue 23 (#5): the seam's first version raised OutputValidationError here.
    from tests.agent_helpers import qw_call as call

    model = ScriptedModel([call("final_result", result="nope") + call("ping", n=1) + call("ping", n=2)])
    agent = Agent(model, [ping], output_type=int, output_mode="tool", output_retries=0,
                  usage_limits=UsageLimits(max_tool_calls=1))  # fmt: skip
    with pytest.raises(UsageLimitExceeded, match="max_tool_calls=1"):
        await agent.run("go")
    assert RUNS == [1]
