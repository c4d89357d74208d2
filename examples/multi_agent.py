"""A router agent that hands each question to the agent that answers it, fully offline.

    python examples/multi_agent.py                        # one weather question, one other
    python examples/multi_agent.py "Who painted the Mona Lisa?" "How warm is it in Oslo right now?"

Three agents, all on agentkit's tiny built-in models (nothing is downloaded):

- ``router``: `LocalModel.demo(role="router")`, a 0.24 M-parameter model trained by
  tools/build_router_model.py for this one job: after `ROUTER_SYSTEM` and the two transfer
  tools, call ``transfer_to_weather`` for a question about the temperature and
  ``transfer_to_general`` for anything else. It was trained on exactly these agent names and
  descriptions; it cannot route to agents it never saw.
- ``weather``: the weather bot's agent (examples/weather_bot.py) on `LocalModel.demo()`.
- ``general``: also on `LocalModel.demo()` for now, which knows only the weather: it politely
  refuses the questions it is handed, which is what it was trained to do with questions that
  are not about the temperature (the router's 98 % held-out accuracy, docs/models.md, means a
  few weather questions reach it too, and it answers those). Give it a real model
  (``LocalModel("internlm/Intern-S1-mini")``, a ``RemoteModel``) and its own tools and system
  prompt to have the other questions answered.

The weather demo model was trained before handoffs existed, so both agents on it see the
conversation without the transfer exchange (`WithoutTransfers`); the transcript keeps it.
"""

from __future__ import annotations

import sys
from contextlib import aclosing

import anyio

from agentkit import Agent, Handoff, LocalModel, RunFinished
from agentkit._demo.routing import GENERAL_DESCRIPTION, ROUTER_SYSTEM, WEATHER_DESCRIPTION, WithoutTransfers
from agentkit._demo.weather import SYSTEM, TOOLS
from agentkit.cli import EventPrinter

QUESTIONS = ["Today is 2024-11-14, What's the temperature in San Francisco now? How about tomorrow?",
             "Who wrote Hamlet?"]  # fmt: skip


def make_router() -> Agent:
    demo = LocalModel.demo()
    weather = Agent(demo, TOOLS, name="weather", description=WEATHER_DESCRIPTION, system=SYSTEM,
                    capabilities=[WithoutTransfers()], max_turns=6)  # fmt: skip
    # The demo model only answers with its tools offered: general has them too (and is told it
    # is the weather assistant) so that it refuses what is not about the temperature.
    general = Agent(demo, TOOLS, name="general", description=GENERAL_DESCRIPTION, system=SYSTEM,
                    capabilities=[WithoutTransfers()], max_turns=6)  # fmt: skip
    return Agent(LocalModel.demo(role="router"), name="router", system=ROUTER_SYSTEM, handoffs=[weather, general])


async def ask(router: Agent, question: str) -> str:
    """Stream one run, printing its events and the handoffs; return the name of the agent that answered."""
    printer = EventPrinter()  # the renderer `agentkit run` uses
    printer.question(question)
    result = None
    async with aclosing(router.stream(question)) as events:
        async for event in events:
            printer.event(event)
            if isinstance(event, Handoff):
                print(f"\n  [handoff: {event.source} -> {event.target}]", end="", flush=True)
            elif isinstance(event, RunFinished):
                result = event.result
    assert result is not None  # a stream that ends without raising ends with RunFinished
    print(f"answered by: {result.agent}\n", flush=True)
    return result.agent


async def main(questions: list[str]) -> list[str]:
    router = make_router()
    return [await ask(router, q) for q in questions]


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:] or QUESTIONS)
