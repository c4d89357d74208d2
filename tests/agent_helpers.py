"""What the agent tests share: the guide's weather tools, call markup, ways to run an agent."""

import contextlib
import json

from agentkit import (
    Agent,
    RunFinished,
    RunResult,
    tool,
)
from agentkit.testing import ScriptedModel


@tool
def get_current_temperature(location: str, unit: str = "celsius") -> dict:
    """Get current temperature at a location.

    Args:
        location: The location to get the temperature for, in the format "City, State, Country".
        unit: The unit to return the temperature in. Defaults to "celsius". (choices: ["celsius", "fahrenheit"])
    """
    return {"temperature": 26.1, "location": location, "unit": unit}


@tool
def get_temperature_date(location: str, date: str, unit: str = "celsius") -> dict:
    """Get temperature at a location and date.

    Args:
        location: The location to get the temperature for, in the format "City, State, Country".
        date: The date to get the temperature for, in the format "Year-Month-Day".
        unit: The unit to return the temperature in. Defaults to "celsius". (choices: ["celsius", "fahrenheit"])
    """
    return {"temperature": 25.9, "location": location, "date": date, "unit": unit}


def is1_call(name: str, **args) -> str:
    return f"<|action_start|><|plugin|>\n{json.dumps({'name': name, 'parameters': args})}<|action_end|>"


def qw_call(name: str, **args) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': args})}\n</tool_call>"


WEATHER_SCRIPT = [
    "The user asks for now and tomorrow.</think>"
    + is1_call("get_current_temperature", location="San Francisco, CA, USA")
    + is1_call("get_temperature_date", location="San Francisco, CA, USA", date="2024-11-15"),
    "Got both.</think>It is 26.1 °C now and 25.9 °C tomorrow in San Francisco.",
]


QUESTION = "Today is 2024-11-14, What's the temperature in San Francisco now? How about tomorrow?"


def weather_agent(**kw) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(WEATHER_SCRIPT, format="intern-s1", in_reasoning=True)
    return Agent(model, [get_current_temperature, get_temperature_date], **kw), model


async def collect(agent: Agent, *args, **kw) -> list:
    async with contextlib.aclosing(agent.stream(*args, **kw)) as events:
        return [e async for e in events]


async def run_in(mode: str, agent: Agent, *args, **kw) -> RunResult:
    """`agent.run`, or `agent.stream` drained to its result."""
    if mode == "stream":
        events = await collect(agent, *args, **kw)
        assert isinstance(events[-1], RunFinished)
        return events[-1].result
    return await agent.run(*args, **kw)


class BreaksAfterText:
    """A model whose stream emits `text` (through the real parser) and then fails."""

    options = frozenset({"max_tokens"})

    def __init__(self, text: str, *, before_failing=None) -> None:
        self.text = text
        self.before_failing = before_failing

    async def complete(self, *args, **kwargs):
        raise NotImplementedError

    async def stream(self, messages, **kwargs):
        from agentkit.formats import get_format

        parser = get_format("qwen3").stream_parser()
        for i in range(0, len(self.text), 3):
            for event in parser.feed(self.text[i : i + 3]):
                yield event
        if self.before_failing is not None:
            await self.before_failing()
        raise RuntimeError("connection reset")
