"""Agents the command-line and web tests name with ``--agent tests.cli_agents:NAME`` (run from the repo root)."""

import json

from agentkit import Agent, ModelError, tool
from agentkit._demo.weather import get_current_temperature
from agentkit.testing import ScriptedModel


def _echo(messages):
    questions = [m["content"] for m in messages if m["role"] == "user"]
    return f"{len(questions)} questions; the last: {json.dumps(questions[-1])}"


def _slow(messages):
    question = [m["content"] for m in messages if m["role"] == "user"][-1]
    if question == "quick":
        return "a quick answer"
    return "a very long answer " * 100


echo = Agent(ScriptedModel(_echo))
"""Answers with how many questions it was sent and the last one: shows what history a run got."""

slow = Agent(ScriptedModel(_slow, chunk=1, delay=0.05))
"""Streams a long answer slowly (about 100 s) unless the question is "quick": for Ctrl-C."""

failing = Agent(ScriptedModel(lambda messages: ModelError("the server fell over")))
"""Every run fails with a ModelError."""

not_an_agent = 42


@tool
def shout() -> str:
    """Say a lot."""
    return "x" * 600


@tool
def broken() -> str:
    """Fail."""
    raise ValueError("no luck")


def _weather(messages):
    if messages[-1]["role"] == "user":
        calls = "".join(
            f'<tool_call>\n{{"name": "{name}", "arguments": {json.dumps(args)}}}\n</tool_call>'
            for name, args in [("get_current_temperature", {"location": "Oslo"}), ("shout", {}), ("broken", {})]
        )
        return f"<think>I need the temperature.</think>{calls}"
    return "<think>I have it.</think>It is 26.1 °C in Oslo."


weather = Agent(ScriptedModel(_weather), [get_current_temperature, shout, broken], system="Be brief.")
"""Thinks, calls three tools (one answers at length, one fails), thinks again and answers."""
