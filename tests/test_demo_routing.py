"""The router demo: `LocalModel.demo(role="router")` (trained by tools/build_router_model.py)
hands questions it never saw to the right agent, through a real `Agent` with handoffs; and the
weather demo model answers after a handoff when it is not shown the transfer exchange."""

import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from agentkit import Agent, Handoff, LocalModel, UserError
from agentkit._demo.routing import GENERAL_DESCRIPTION, ROUTER_SYSTEM, WEATHER_DESCRIPTION, WithoutTransfers
from agentkit._demo.weather import SYSTEM, get_current_temperature, get_temperature_date
from agentkit._local import DEMO_PATH
from agentkit.testing import ScriptedModel, check_transcript

pytestmark = pytest.mark.anyio

# Cities and phrasings that are not in the router's training data (tools/build_router_model.py).
WEATHER_QUESTIONS = [
    "Could you tell me how warm it is in Reykjavik?",
    "I'm going to Thunder Bay on 2025-07-04. How cold will it be?",
    "Is it freezing in Krakow now?",
    "Today is 2024-11-14, What's the temperature in Salt Lake City now? How about tomorrow?",
]
OTHER_QUESTIONS = ["Who wrote Hamlet?", "Which river flows through Porto?", "What should I eat for dinner?",
                   "Explain how chess works."]  # fmt: skip


@pytest.fixture(scope="module")
def router_model():
    return LocalModel.demo(role="router")


def agents(router_model, weather_model, general_model, **router_kw):
    weather = Agent(weather_model, name="weather", description=WEATHER_DESCRIPTION)
    general = Agent(general_model, name="general", description=GENERAL_DESCRIPTION)
    return Agent(router_model, name="router", system=ROUTER_SYSTEM, handoffs=[weather, general], **router_kw)


@pytest.mark.parametrize(
    ("question", "target"), [*((q, "weather") for q in WEATHER_QUESTIONS), *((q, "general") for q in OTHER_QUESTIONS)]
)
async def test_the_router_hands_unseen_questions_to_the_right_agent(router_model, question, target):
    router = agents(router_model, ScriptedModel(["weather here"]), ScriptedModel(["general here"]))
    events = [e async for e in router.stream(question)]
    result = events[-1].result
    assert result.agent == target and result.output == f"{target} here"
    assert [e for e in events if isinstance(e, Handoff)] == [Handoff(source="router", target=target)]
    calls = [c for m in result.messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [(f"transfer_to_{target}", "{}")]


def test_the_default_demo_is_the_weather_model_and_the_router_a_model_of_its_own(router_model):
    weather = LocalModel.demo()
    assert Path(weather.model.name_or_path) == DEMO_PATH
    assert Path(LocalModel.demo(role="weather").model.name_or_path) == DEMO_PATH
    assert Path(router_model.model.name_or_path) == DEMO_PATH / "router"
    assert router_model.model.num_parameters() < weather.model.num_parameters() / 4
    with pytest.raises(UserError, match="'weather' or 'router'"):
        LocalModel.demo(role="billing")


async def test_the_weather_demo_answers_after_a_handoff_without_seeing_the_transfer(router_model):
    weather = Agent(LocalModel.demo(), [get_current_temperature, get_temperature_date], name="weather",
                    description=WEATHER_DESCRIPTION, system=SYSTEM, capabilities=[WithoutTransfers()])  # fmt: skip
    general = Agent(ScriptedModel(["general here"]), name="general", description=GENERAL_DESCRIPTION)
    router = Agent(router_model, name="router", system=ROUTER_SYSTEM, handoffs=[weather, general])
    result = await router.run("What's the temperature in Oslo now?")
    check_transcript(result.messages)
    assert result.agent == "weather"
    calls = [c["function"] for m in result.messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("transfer_to_weather", {}), ("get_current_temperature", {"location": "Oslo"})]  # fmt: skip
    assert "26.1" in result.output and "Oslo" in result.output


TRANSFER = '<|action_start|><|plugin|>\n{"name": "transfer_to_weather", "parameters": {}}<|action_end|>'


@pytest.mark.parametrize(("said", "sent"), [("", [{"role": "user", "content": "Warm in Oslo?"}]), (
    "Passing you on.", [{"role": "user", "content": "Warm in Oslo?"}, {"role": "assistant", "content": "Passing you on."}]
)])  # fmt: skip
async def test_without_transfers_changes_what_is_sent_not_the_transcript(said, sent):
    requests = []

    def weather_script(messages):
        requests.append(messages)
        return "sunny"

    weather = Agent(
        ScriptedModel(weather_script, format="intern-s1"), name="weather", capabilities=[WithoutTransfers()]
    )
    router = Agent(ScriptedModel([said + TRANSFER], format="intern-s1"), name="router", system=ROUTER_SYSTEM,
                   handoffs=[weather])  # fmt: skip
    result = await router.run("Warm in Oslo?")
    assert [{k: m[k] for k in ("role", "content") if k in m} | ({"tool_calls": 1} if "tool_calls" in m else {})
            for m in requests[0]] == sent  # fmt: skip
    assert [m["role"] for m in result.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert result.messages[2]["tool_calls"][0]["function"]["name"] == "transfer_to_weather"
