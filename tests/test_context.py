"""`RunContext`: what a tool sees of its run, and that the model can never set it."""

from __future__ import annotations

import dataclasses

import pytest

from agentkit import Agent, RunContext, ToolCall, ToolDefinitionError, UserError, tool
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import qw_call, run_in

MODES = ["run", "stream"]


@dataclasses.dataclass
class Deps:
    user: str
    seen: list


@tool
def whoami(ctx: RunContext[Deps], greeting: str) -> str:
    """Say who the user is.

    Args:
        greeting: How to greet.
    """
    ctx.deps.seen.append(ctx)
    return f"{greeting}, {ctx.deps.user}"


def test_the_context_parameter_is_not_in_the_schema():
    assert whoami.takes_context
    assert whoami.parameters == {
        "type": "object",
        "properties": {"greeting": {"type": "string", "description": "How to greet."}},
        "required": ["greeting"],
    }


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_tool_gets_deps_usage_turn_messages_and_call(mode):
    m = ScriptedModel(["Hm.", qw_call("whoami", greeting="Hi"), "Done."], format="qwen3")
    deps = Deps(user="ada", seen=[])
    agent = Agent(m, [whoami], deps_type=Deps)
    # The first turn answers without a call: a second run continues the conversation.
    first = await run_in(mode, agent, "who am I?", deps=deps)
    result = await run_in(mode, agent, [*first.messages, {"role": "user", "content": "again"}], deps=deps)
    (ctx,) = deps.seen
    assert result.messages[-2]["content"] == "Hi, ada"
    assert ctx.deps is deps
    assert ctx.turn == 0
    # Finished model calls only: streaming starts the tool while its own call still streams.
    done = 1 if mode == "run" else 0
    assert ctx.usage.requests == done
    assert ctx.usage.completion_tokens == done * len(qw_call("whoami", greeting="Hi"))
    assert ctx.messages == [*first.messages, {"role": "user", "content": "again"}]
    assert isinstance(ctx.call, ToolCall) and ctx.call.name == "whoami"
    assert ctx.call.id == result.messages[-3]["tool_calls"][0]["id"]
    check_transcript(result.messages)


@pytest.mark.anyio
async def test_the_turn_and_usage_move_on_and_messages_are_a_copy():
    seen = []

    @tool
    def probe(ctx: RunContext[None]) -> str:
        """Probe."""
        seen.append((ctx.turn, ctx.usage.requests, ctx.usage.tool_calls, len(ctx.messages)))
        ctx.messages.clear()  # changes nothing
        return "ok"

    m = ScriptedModel([qw_call("probe"), qw_call("probe") + qw_call("probe"), "end"], format="qwen3")
    result = await Agent(m, [probe]).run("go")
    assert sorted(seen) == [(0, 1, 1, 1), (1, 2, 2, 3), (1, 2, 3, 3)]
    assert len(result.messages) == 7
    assert result.usage.tool_calls == 3


@pytest.mark.anyio
async def test_the_model_cannot_set_the_context():
    m = ScriptedModel([qw_call("whoami", ctx={"deps": "evil"}, greeting="Hi"), "ok"], format="qwen3")
    deps = Deps(user="ada", seen=[])
    result = await Agent(m, [whoami]).run("x", deps=deps)
    assert "unknown argument 'ctx'; whoami takes: greeting" in result.messages[2]["content"]
    assert deps.seen == []


@pytest.mark.anyio
async def test_no_deps_is_none():
    got = []

    @tool
    def probe(ctx: RunContext) -> str:
        """Probe."""
        got.append(ctx.deps)
        return "ok"

    m = ScriptedModel([qw_call("probe"), "ok"], format="qwen3")
    await Agent(m, [probe]).run("x")
    assert got == [None]


def test_deps_of_the_wrong_type_is_the_callers_error():
    agent = Agent(ScriptedModel(["x"]), [whoami], deps_type=Deps)
    with pytest.raises(UserError, match="deps must be a Deps, not str"):
        agent.run_sync("x", deps="ada")


def test_a_context_anywhere_but_first_is_refused():
    def late(x: int, ctx: RunContext[None]) -> int:
        """Late."""
        return x

    with pytest.raises(ToolDefinitionError, match="a RunContext can only be the first parameter"):
        tool(late)

    def keyword(*, ctx: RunContext[None], x: int) -> int:
        """Keyword."""
        return x

    with pytest.raises(ToolDefinitionError, match="the RunContext parameter must be positional"):
        tool(keyword)


def test_acall_without_a_context_says_what_is_missing():
    import anyio

    with pytest.raises(UserError, match="takes a RunContext"):
        anyio.run(whoami.acall, {"greeting": "Hi"})


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_tool_cannot_rewrite_the_transcript_through_its_context(mode):
    @tool
    def vandal(ctx: RunContext[None]) -> str:
        """Vandal."""
        ctx.messages[0]["content"] = "HACKED"
        return "done"

    m = ScriptedModel([qw_call("vandal"), "ok"], format="qwen3")
    result = await run_in(mode, Agent(m, [vandal]), "hello")
    assert result.messages[0]["content"] == "hello"
    assert m.calls[1].messages[0]["content"] == "hello"
