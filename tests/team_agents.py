"""Agents that use agents (issue 24) for the command-line and web tests: sub-agents (``as_tool``) and
handoffs, named with ``--agent tests.team_agents:NAME`` (run from the repo root)."""

import json

from agentkit import Agent, tool
from agentkit._demo.weather import get_current_temperature
from agentkit.testing import ScriptedModel
from tests.cli_agents import HOSTILE, _payments, _slow, pay


def _call(name: str, **args) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': args}, ensure_ascii=False)}\n</tool_call>"


def _since_question(messages: list) -> list:
    """The messages after the last user message: what this turn of the conversation has done."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return messages[last + 1 :]


def _forecast(messages):
    if any(m.get("name") == "get_current_temperature" for m in _since_question(messages)):
        return "<think>I have it.</think>It is 26.1 °C in Oslo.\nDry."
    return "<think>I need the temperature.</think>" + _call("get_current_temperature", location="Oslo")


forecast = Agent(ScriptedModel(_forecast), [get_current_temperature], name="forecast",
                 description="Answers weather questions.")  # fmt: skip
"""Thinks, looks the temperature up and answers on two lines (after a handoff too)."""


def _planner(messages):
    if any(m["role"] == "tool" for m in _since_question(messages)):
        return "Forecast: mild."
    return _call("forecast", input="Oslo?")


planner = Agent(ScriptedModel(_planner), [forecast.as_tool()], name="planner")
"""Asks `forecast` (a sub-agent), then answers."""


def _delegating(messages):
    if any(m["role"] == "tool" for m in _since_question(messages)):
        return "Mild in Oslo."
    return "<think>Ask the planner.</think>" + _call("planner", input="Oslo?")


delegating = Agent(ScriptedModel(_delegating), [planner.as_tool()], name="main")
"""Asks `planner`, which asks `forecast`: a sub-run inside a sub-run."""


def _router(messages):
    return _call("transfer_to_forecast")


router = Agent(ScriptedModel(_router), name="router", handoffs=[forecast])
"""Hands every question to `forecast`, which answers."""


PAGE_HOSTILE = '<img src=x onerror="window.pwned=1"><b>bold</b>'
"""Markup a model or a tool may send a page: shown as text, never parsed."""


@tool
def leak_markup(note: str) -> str:
    """Return hostile text.

    Args:
        note: Anything.
    """
    return f"{PAGE_HOSTILE} {HOSTILE}"


def _mole(messages):
    if any(m["role"] == "tool" for m in _since_question(messages)):
        return f"mole says {PAGE_HOSTILE} {HOSTILE}"
    return f"<think>plotting {HOSTILE}</think>" + _call("leak_markup", note=f"{PAGE_HOSTILE} {HOSTILE}")


mole = Agent(ScriptedModel(_mole), [leak_markup], name="mole")
"""A sub-agent whose reasoning, text, tool arguments and tool result are full of markup and terminal controls."""


def _spying(messages):
    if any(m["role"] == "tool" and m.get("name") == "mole" for m in _since_question(messages)):
        return _call("transfer_to_forecast")
    return _call("mole", input="dig")


spying = Agent(ScriptedModel(_spying), [mole.as_tool()], name="spymaster", handoffs=[forecast])
"""Asks `mole` (hostile text), then hands the question to `forecast`."""


def _team(messages):
    if any(m["role"] == "tool" and m.get("name") == "planner" for m in _since_question(messages)):
        return _call("transfer_to_forecast")
    return "<think>Ask the planner first.</think>" + _call("planner", input="Oslo?")


team = Agent(ScriptedModel(_team), [planner.as_tool()], name="team", handoffs=[forecast])
"""Asks `planner` (which asks `forecast`), then hands the question to `forecast`, which answers."""


paying_desk = Agent(ScriptedModel(_payments), [pay], name="desk")
"""`payments` as a sub-agent: its `pay` calls make the caller wait for approval."""


def _boss(messages):
    said = [m["content"] for m in _since_question(messages) if m["role"] == "tool"]
    return f"boss heard: {said[-1]}" if said else _call("desk", input=messages[-1]["content"])


boss = Agent(ScriptedModel(_boss), [paying_desk.as_tool()], name="boss")
"""Passes the question to `desk` (a sub-agent whose calls of `pay` need approval) and repeats its answer."""


slowpoke = Agent(ScriptedModel(_slow, chunk=1, delay=0.05), name="slowpoke")
"""`slow` with a name: as a sub-agent, its answer streams until the run is stopped."""
waiting_boss = Agent(ScriptedModel(lambda m: _call("slowpoke", input="go")), [slowpoke.as_tool()], name="boss")
"""Asks `slowpoke`, whose answer does not end."""


handing_desk = Agent(ScriptedModel(_router), name="desk", handoffs=[forecast])
"""`router` as a sub-agent: it hands its question to `forecast`."""
asks_handing_desk = Agent(ScriptedModel(_planner), [handing_desk.as_tool(name="forecast")], name="boss")
"""`planner`'s script, asking `desk` (named `forecast` as a tool), which hands off inside its sub-run."""
