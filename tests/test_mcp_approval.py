"""A served tool with ``requires_approval=True`` asks the client's user (an elicitation that
shows the call) and runs only on a clear yes; checked with the MCP SDK's own client, in process
on both protocol eras and over stdio from `agentkit mcp serve`."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

mcp = pytest.importorskip("mcp")
from mcp import Client, StdioServerParameters, types  # noqa: E402

from agentkit.mcp import server  # noqa: E402

from .mcp_servers.agentkit_tools import GUARDED, HOOKED, spend  # noqa: E402

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
MODES = ["legacy", "auto"]


def user(action: str, content: dict | None = None):
    asked: list[types.ElicitRequestParams] = []

    async def answer(context, params):
        asked.append(params)
        return types.ElicitResult(action=action, content=content)

    return answer, asked


def text(result) -> str:
    return "\n".join(b.text for b in result.content)


@pytest.mark.parametrize("mode", MODES)
async def test_the_tool_runs_once_the_user_approves(tmp_path, mode):
    ledger = tmp_path / "ledger"
    answer, asked = user("accept", {"approve": True})
    async with Client(server(GUARDED), cache=None, mode=mode, elicitation_callback=answer) as client:
        result = await client.call_tool("pay", {"amount": 500, "ledger": str(ledger)})
    assert (result.is_error, text(result), ledger.read_text()) == (False, "paid 500", "500\n")
    assert len(asked) == 1
    assert asked[0].message.startswith("The tool pay needs your approval to run with these arguments:\n")
    assert '"amount": 500' in asked[0].message
    assert asked[0].requested_schema["properties"]["approve"]["type"] == "boolean"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("action", "content", "said"),
    [
        ("decline", None, "the user declined"),
        ("cancel", None, "the user declined"),
        ("accept", {"approve": False}, "the user did not approve it"),
        ("accept", {}, "the user did not approve it"),
        (
            "accept",
            {"approve": "yes"},
            "it needs the user's approval, and the MCP client's answer does not fit the "
            "form: 'yes' is not of type 'boolean'",
        ),
    ],
)
async def test_anything_but_a_clear_yes_does_not_run_it(tmp_path, mode, action, content, said):
    ledger = tmp_path / "ledger"
    answer, _ = user(action, content)
    async with Client(server(GUARDED), cache=None, mode=mode, elicitation_callback=answer) as client:
        result = await client.call_tool("pay", {"amount": 5, "ledger": str(ledger)})
        assert (result.is_error, text(result)) == (True, f"the tool pay was not run: {said}")
        assert text(await client.call_tool("multiply", {"a": 2, "b": 3})) == "6"  # no question for the others
    assert not ledger.exists()


async def test_the_user_is_not_asked_about_arguments_the_tool_would_refuse(tmp_path):
    answer, asked = user("accept", {"approve": True})
    async with Client(server(GUARDED), cache=None, mode="legacy", elicitation_callback=answer) as client:
        result = await client.call_tool("pay", {"amount": "lots", "ledger": str(tmp_path / "l")})
    assert result.is_error and text(result).startswith("Invalid arguments for pay:") and asked == []


async def test_an_unanswered_question_is_a_no_in_time(tmp_path):
    async def never(context, params):
        await anyio.sleep_forever()

    ledger = tmp_path / "ledger"
    async with Client(server(GUARDED, approval_timeout=0.2), cache=None, mode="legacy",
                      elicitation_callback=never) as client:  # fmt: skip
        result = await client.call_tool("pay", {"amount": 5, "ledger": str(ledger)})
    assert (result.is_error, text(result)) == (
        True,
        "the tool pay was not run: the user did not answer in time (0.2 s)",
    )
    assert not ledger.exists()


async def test_the_approve_hook_decides_first_and_a_denied_call_asks_nobody(tmp_path):
    from agentkit import tool

    guarded_spend = tool(spend.function, requires_approval=True)
    answer, asked = user("accept", {"approve": True})
    async with Client(server([guarded_spend], approve=HOOKED.approve), cache=None, mode="legacy",
                      elicitation_callback=answer) as client:  # fmt: skip
        over = await client.call_tool("spend", {"amount": 500, "ledger": str(tmp_path / "l")})
        assert text(over) == "the tool spend was not run: not approved: over the limit of 100" and asked == []
        ok = await client.call_tool("spend", {"amount": 50, "ledger": str(tmp_path / "l")})
    assert (text(ok), len(asked), (tmp_path / "l").read_text()) == ("spent 50", 1, "50\n")


async def test_agentkit_mcp_serve_asks_the_user_over_stdio(tmp_path):
    ledger = tmp_path / "ledger"
    answer, asked = user("accept", {"approve": True})
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "agentkit", "mcp", "serve", "tests.mcp_servers.agentkit_tools:GUARDED"],
                                   cwd=str(ROOT), env={"PYTHONPATH": str(ROOT)})  # fmt: skip
    async with Client(params, cache=None, elicitation_callback=answer) as client:
        result = await client.call_tool("pay", {"amount": 7, "ledger": str(ledger)})
    assert (result.is_error, text(result), ledger.read_text(), len(asked)) == (False, "paid 7", "7\n", 1)
