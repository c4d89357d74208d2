"""examples/multi_agent.py, run as a user runs it: a router on the built-in router model hands a
weather question to the weather agent and another question to the general agent, offline."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "multi_agent.py"


def run_example(*questions: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(EXAMPLE), *questions], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def runs(out: str) -> list[tuple[str, str]]:
    """(what one question printed, the agent that answered) per question."""
    return re.findall(r"(user: .*?)answered by: (\w+)", out, re.S)


def test_the_router_hands_the_weather_question_to_weather_and_the_other_to_general():
    out = run_example()
    (weather_run, weather_agent), (other_run, other_agent) = runs(out)
    assert weather_agent == "weather" and "[handoff: router -> weather]" in weather_run
    calls = [(n, json.loads(a)) for n, a in re.findall(r"-> (\w+)\((\{.*?\})\)", weather_run)]
    assert calls == [
        ("transfer_to_weather", {}),
        ("get_current_temperature", {"location": "San Francisco"}),
        ("get_temperature_date", {"location": "San Francisco", "date": "2024-11-15"}),
    ]
    assert "26.1" in weather_run.split("assistant:")[-1] and "25.9" in weather_run.split("assistant:")[-1]
    assert other_agent == "general" and "[handoff: router -> general]" in other_run
    assert re.findall(r"-> (\w+)\(", other_run) == ["transfer_to_general"]
    assert "only" in other_run.split("assistant:")[-1]  # the demo model's polite refusal


def test_questions_given_on_the_command_line_are_routed():
    out = run_example("Is it freezing in Krakow now?", "What should I eat for dinner?")
    assert [agent for _, agent in runs(out)] == ["weather", "general"]
