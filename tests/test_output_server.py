"""Typed results against a real server: llama.cpp's llama-server serving the built-in demo model.

"json" mode sends `response_format` with the schema, which llama-server turns into a grammar:
the tiny model's answers must always be valid (given room to finish: an answer cut off by
`max_tokens` is not, whatever the grammar). "tool" mode relies on the model calling
`final_result`, which the demo model never learned: the test measures how often a run needs a
correction or fails, and that every run ends with a valid transcript either way. The numbers
are printed (``pytest -s``) for the notes.
"""

import json
from typing import Literal

import pydantic
import pytest

from agentkit import Agent, MaxTurnsExceeded, OutputValidationError, RemoteModel, Sampling
from agentkit.testing import check_transcript
from tools import llama_server

pytestmark = [pytest.mark.anyio, pytest.mark.server("llama.cpp")]

CITIES = ["Oslo", "Lima", "Cairo", "Perth", "Quito", "Dakar", "Hanoi", "Tunis", "Riga", "Sucre"]


class Reading(pydantic.BaseModel):
    city: str
    celsius: float
    sky: Literal["clear", "cloudy", "rain"]


@pytest.fixture(scope="module")
def server():
    with llama_server.Server(llama_server.demo_gguf()) as srv:
        yield srv


async def test_json_mode_output_is_always_valid(server):
    valid = 0
    async with RemoteModel(server.url, sampling=Sampling(temperature=0.8, max_tokens=400)) as model:
        agent = Agent(model, output_type=Reading, output_mode="json", output_retries=0, thinking=False)
        for city in CITIES:
            result = await agent.run(f"What's the temperature in {city} now?")
            assert isinstance(result.output, Reading)
            check_transcript(result.messages)
            valid += 1
    print(json.dumps({"json mode": {"runs": len(CITIES), "valid first time": valid}}))
    assert valid == len(CITIES)


async def test_tool_mode_runs_end_valid_and_are_counted(server):
    first_time = corrected = failed = 0
    kinds: dict[str, int] = {}
    async with RemoteModel(server.url, sampling=Sampling(temperature=0, max_tokens=120)) as model:
        agent = Agent(model, output_type=Reading, output_mode="tool", output_retries=2, thinking=False, max_turns=4)
        for city in CITIES:
            try:
                result = await agent.run(f"What's the temperature in {city} now?")
            except (OutputValidationError, MaxTurnsExceeded) as e:  # a typed failure, never another error
                failed += 1
                kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
                check_transcript(e.messages)
                continue
            assert isinstance(result.output, Reading)
            check_transcript(result.messages)
            if result.turns == 1:
                first_time += 1
            else:
                corrected += 1
    print(json.dumps({"tool mode": {"runs": len(CITIES), "valid first time": first_time, "after a correction":
                                    corrected, "failed": failed, "failures": kinds}}))  # fmt: skip
