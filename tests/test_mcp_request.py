"""`RunContext.mcp` in a served tool: progress, log messages, sampling and elicitation, with the
MCP SDK's own client, on both protocol eras the SDK speaks: the 2025 handshake ("legacy": the
server sends its requests mid-call) and 2026-07-28 (the client's default: the call answers
"input required" and the client calls again with the answer)."""

from __future__ import annotations

import pytest

from agentkit import Agent, RunContext, tool
from agentkit.testing import ScriptedModel

from .agent_helpers import qw_call

mcp = pytest.importorskip("mcp")
from mcp import Client, types  # noqa: E402

from agentkit.mcp import server  # noqa: E402

from .mcp_servers.conformance_tools import TOOLS  # noqa: E402

pytestmark = pytest.mark.anyio
MODES = ["legacy", "auto"]


def text(result) -> str:
    return "\n".join(b.text for b in result.content)


@pytest.mark.parametrize("mode", MODES)
async def test_progress_reaches_a_client_that_asked_for_it(mode):
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress, total, message):
        seen.append((progress, total))

    async with Client(server(TOOLS), cache=None, mode=mode) as client:
        result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert (result.is_error, seen) == (False, [(0, 100), (50, 100), (100, 100)])
        quiet = await client.call_tool("test_tool_with_progress", {})  # no token: nothing sent, no error
        assert (quiet.is_error, text(quiet), len(seen)) == (False, "Progress test completed", 3)


async def test_log_messages_follow_the_level_the_client_set():
    got: list[tuple[str, object]] = []

    async def on_log(params):
        got.append((params.level, params.data))

    @tool
    async def chatty(ctx: RunContext[None]) -> str:
        """Logs at three levels."""
        for level in ("debug", "info", "error"):
            await ctx.mcp.log(level, {"level": level})
        return "done"

    async with Client(server([chatty]), cache=None, mode="legacy", logging_callback=on_log) as client:
        assert (await client.call_tool("chatty", {})).is_error is False
        assert [level for level, _ in got] == ["debug", "info", "error"]  # every level until one is set
        got.clear()
        await client.set_logging_level("info")
        await client.call_tool("chatty", {})
        assert got == [("info", {"level": "info"}), ("error", {"level": "error"})]


async def test_log_messages_on_2026_go_to_a_client_that_opted_in():
    got: list[str] = []

    async def on_log(params):
        got.append(params.data)

    async with Client(server(TOOLS), cache=None, logging_callback=on_log, log_level="info") as client:
        await client.call_tool("test_tool_with_logging", {})
    assert got == ["Tool execution started", "Tool processing data", "Tool execution completed"]


async def answer_sampling(context, params: types.CreateMessageRequestParams):
    asked = params.messages[0].content.text
    return types.CreateMessageResult(role="assistant", content=types.TextContent(text=f"<{asked}>"), model="m")


@pytest.mark.parametrize("mode", MODES)
async def test_sampling_asks_the_clients_model(mode):
    async with Client(server(TOOLS), cache=None, mode=mode, sampling_callback=answer_sampling) as client:
        result = await client.call_tool("test_sampling", {"prompt": "capital of France?"})
        assert (result.is_error, text(result)) == (False, "LLM response: <capital of France?>")


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_sampling_gets_an_error_result(mode):
    async with Client(server(TOOLS), cache=None, mode=mode) as client:
        result = await client.call_tool("test_sampling", {"prompt": "x"})
    assert (result.is_error, text(result)) == (
        True,
        "the MCP client does not offer sampling (it did not declare the capability)",
    )


def elicitation(action: str, content: dict | None = None):
    asked: list[types.ElicitRequestParams] = []

    async def answer(context, params):
        asked.append(params)
        return types.ElicitResult(action=action, content=content)

    return answer, asked


@pytest.mark.parametrize("mode", MODES)
async def test_elicitation_returns_the_form_or_none(mode):
    accept, asked = elicitation("accept", {"username": "ada", "email": "ada@example.com"})
    async with Client(server(TOOLS), cache=None, mode=mode, elicitation_callback=accept) as client:
        result = await client.call_tool("test_elicitation", {"message": "Who are you?"})
    assert text(result) == 'User response: action=accept, content={"username": "ada", "email": "ada@example.com"}'
    assert [(p.message, p.requested_schema["required"]) for p in asked] == [("Who are you?", ["username", "email"])]
    decline, _ = elicitation("decline")
    async with Client(server(TOOLS), cache=None, mode=mode, elicitation_callback=decline) as client:
        result = await client.call_tool("test_elicitation", {"message": "Who are you?"})
    assert text(result) == "User response: action=decline, content=null"


@pytest.mark.parametrize("mode", MODES)
async def test_two_questions_in_one_call_are_each_asked_once(mode):
    @tool
    async def survey(ctx: RunContext[None]) -> str:
        """Asks two things."""
        first = await ctx.mcp.elicit("first?", {"type": "object", "properties": {"a": {"type": "string"}}})
        second = await ctx.mcp.sample("second?", max_tokens=5)
        return f"{first} {second}"

    answer, asked = elicitation("accept", {"a": "yes"})
    async with Client(server([survey]), cache=None, mode=mode, elicitation_callback=answer,
                      sampling_callback=answer_sampling) as client:  # fmt: skip
        result = await client.call_tool("survey", {})
    assert (result.is_error, text(result), len(asked)) == (False, "{'a': 'yes'} <second?>", 1)


async def test_inside_an_agent_the_context_has_no_mcp_request():
    seen = []

    @tool
    def probe(ctx: RunContext[None]) -> str:
        """Looks at its context."""
        seen.append(ctx.mcp)
        return "ok"

    await Agent(ScriptedModel([qw_call("probe"), "done"]), [probe]).run("q")
    assert seen == [None]


@pytest.mark.parametrize("mode", MODES)
async def test_an_answer_that_does_not_fit_the_form_is_an_error(mode):
    wrong, _ = elicitation("accept", {"username": 5, "email": "e"})
    async with Client(server(TOOLS), cache=None, mode=mode, elicitation_callback=wrong) as client:
        result = await client.call_tool("test_elicitation", {"message": "Who are you?"})
    assert (result.is_error, text(result)) == (
        True,
        "the MCP client's answer does not fit the form: 5 is not of type 'string'",
    )
