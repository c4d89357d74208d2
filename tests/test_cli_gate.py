"""An Agent named by ``--tools MODULE:AGENT`` keeps its approve hook (agentkit/cli/_gate.py)."""

import json

import anyio
import pytest

from agentkit.cli import _common
from agentkit.cli._main import build_parser
from agentkit.testing import ScriptedModel

pytest.importorskip("mcp")

HOOKED = "tests.mcp_servers.agentkit_tools:HOOKED"


def call(name, **arguments):
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": arguments})}\n</tool_call>'


def agent_for(monkeypatch, script, *specs):
    """The agent `agentkit run --tools SPEC...` builds, on a scripted model."""
    monkeypatch.setattr(_common, "_model", lambda args: ScriptedModel(script))
    args = build_parser().parse_args(["run", *(a for spec in specs for a in ("--tools", spec)), "q"])
    return _common.build_agent(args)


def tool_messages(result):
    return [m["content"] for m in result.messages if m["role"] == "tool"]


def test_tools_of_an_agent_named_by_tools_go_through_its_hook(monkeypatch, tmp_path):
    ledger = str(tmp_path / "ledger")
    script = [call("spend", amount=500, ledger=ledger) + call("spend", amount=5, ledger=ledger) + call("shout"), "ok"]
    agent = agent_for(monkeypatch, script, HOOKED, "tests.cli_agents:shout")
    result = anyio.run(lambda: agent.run("q"))
    denied, spent, shouted = tool_messages(result)
    assert denied == "Error: the user did not allow this tool call (over the limit of 100)."
    assert spent == "spent 5" and shouted == "x" * 600  # the other spec's tool needs no hook's yes
    assert (tmp_path / "ledger").read_text() == "5\n"


def test_tools_of_specs_without_a_hook_get_none(monkeypatch):
    agent = agent_for(monkeypatch, ["ok"], "tests.cli_agents:shout")
    assert agent.approve is None


@pytest.mark.parametrize(("name", "verdict"), [("mine", "no from a"), ("theirs", "no from b"), ("free", True),
                                               ("from_a_server", "no from a")])  # fmt: skip
def test_a_call_goes_to_the_hook_of_the_agent_holding_its_tool_and_an_unknown_one_to_every_hook(name, verdict):
    from agentkit._events import ToolCall
    from agentkit.cli._gate import Hooked, combined

    asked = []

    def hook(answer):
        def decide(call):
            asked.append(answer)
            return answer

        return decide

    async def b(call):  # async hooks are awaited
        asked.append("b")
        return "no from b" if call.name == "theirs" else True

    approve = combined([Hooked(names=frozenset({"mine"}), approve=hook("no from a"), timeout=None),
                        Hooked(names=frozenset({"theirs"}), approve=b, timeout=None)], ["free"])  # fmt: skip
    got = anyio.run(lambda: approve(ToolCall(id="c1", name=name, arguments="{}")))
    assert got == verdict
    assert asked == {"mine": ["no from a"], "theirs": ["b"], "free": [], "from_a_server": ["no from a"]}[name]
