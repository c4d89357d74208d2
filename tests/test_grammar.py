"""`LocalModel` with ``response_format``: JSON-schema constrained decoding by xgrammar, on the
real demo model (which was only ever trained to call weather tools and write short answers)."""

import json
import logging
from typing import Literal

import jsonschema
import pydantic
import pytest

from agentkit import Agent, LocalModel, Sampling, UserError
from agentkit._grammar import schema_of
from agentkit._output import OutputSpec

pytest.importorskip("xgrammar", reason="needs xgrammar: pip install 'agentkit[grammar]' (on CPU, without triton: "
                    "pip install --no-deps xgrammar apache-tvm-ffi, as .ci/run does)")
pytestmark = pytest.mark.anyio

CITIES = ["Oslo", "Lima", "Cairo", "Perth", "Quito", "Hanoi"]


class Reading(pydantic.BaseModel):
    city: str
    celsius: float
    sky: Literal["clear", "cloudy", "rain"]


class Sky(pydantic.BaseModel):
    """A schema with no unbounded string or number: every answer ends within a few tokens."""

    sky: Literal["clear", "cloudy", "rain"]
    windy: bool


@pytest.fixture(scope="module")
def demo():
    return LocalModel.demo(sampling=Sampling(temperature=0, max_tokens=300))


def ask(city: str) -> list[dict]:
    return [{"role": "user", "content": f"What's the temperature in {city} now?"}]


async def test_a_json_schema_response_format_makes_every_answer_valid(demo):
    spec = OutputSpec(Sky)
    for city in CITIES:
        c = await demo.complete(ask(city), thinking=False, response_format=spec.response_format)
        jsonschema.validate(json.loads(c.content), spec.response_format["json_schema"]["schema"])
        assert not c.tool_calls and c.finish_reason == "stop"


async def test_every_answer_that_ends_is_valid_even_with_unbounded_fields(demo):
    # The tiny model can ramble inside a string or a number until max_tokens; what ends is valid.
    spec = OutputSpec(Reading)
    ended = 0
    for city in CITIES:
        c = await demo.complete(ask(city), thinking=False, response_format=spec.response_format, temperature=0)
        if c.finish_reason != "length":
            jsonschema.validate(json.loads(c.content), spec.response_format["json_schema"]["schema"])
            ended += 1
    print(json.dumps({"local json mode, unbounded fields": {"runs": len(CITIES), "ended and valid": ended}}))
    assert ended >= 1


async def test_without_it_the_demo_model_writes_no_json(demo):
    # What the constraint changes: left alone, the model calls its weather tool.
    c = await demo.complete(ask("Oslo"), thinking=False, temperature=0)
    with pytest.raises(json.JSONDecodeError):
        json.loads(c.content)


async def test_streaming_is_constrained_too(demo):
    spec = OutputSpec(Sky)
    events = [e async for e in demo.stream(ask("Lima"), thinking=False, response_format=spec.response_format)]
    text = "".join(e.text for e in events if type(e).__name__ == "TextDelta")
    assert Sky.model_validate_json(text) == Sky.model_validate_json(events[-1].completion.content)


async def test_json_object_allows_any_object(demo):
    for city in CITIES[:3]:
        c = await demo.complete(ask(city), thinking=False, response_format={"type": "json_object"}, temperature=0)
        assert c.content.startswith("{") and not c.tool_calls
        if c.finish_reason != "length":  # what ends is an object (it may ramble in a string until max_tokens)
            assert isinstance(json.loads(c.content), dict)


async def test_an_agent_picks_json_mode_on_a_local_model_and_gets_a_typed_value(demo):
    agent = Agent(demo, output_type=Sky, thinking=False, output_retries=0)
    result = await agent.run("What's the weather in Quito now?")
    assert isinstance(result.output, Sky)
    assert result.messages[0]["role"] == "system"  # the json-mode instruction: auto chose json


async def test_no_grammar_when_the_answer_starts_with_thinking(demo, caplog):
    spec = OutputSpec(int)
    with caplog.at_level(logging.INFO, logger="agentkit"):
        await demo.complete(ask("Oslo"), thinking=True, response_format=spec.response_format, max_tokens=20)
    assert "response_format is not enforced on an answer that starts with thinking" in caplog.text


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("json", "response_format must be a dict, not str"),
        ({"type": "xml"}, "type must be 'text', 'json_object' or 'json_schema', not 'xml'"),
        ({"type": "json_schema", "json_schema": {}}, "needs {'json_schema': {'schema': {...}}}"),
    ],
)
def test_bad_response_formats_are_the_callers_error(value, problem):
    with pytest.raises(UserError, match=problem.replace("(", r"\(").replace(")", r"\)").replace("{", r"\{").replace("}", r"\}").replace("[", r"\[").replace(".", r"\.")):  # fmt: skip
        schema_of(value)


def test_schema_of_each_kind():
    assert schema_of({"type": "text"}) is None
    assert schema_of({"type": "json_object"}) == {}
    assert schema_of({"type": "json_schema", "json_schema": {"schema": {"type": "integer"}}}) == {"type": "integer"}


def test_auto_mode_uses_json_only_where_it_is_enforced():
    from agentkit._options import _mode

    class Unenforced:
        options = frozenset({"response_format"})
        constrains_json = False

    class Enforced:
        options = frozenset({"response_format"})

    assert _mode("auto", Unenforced(), has_tools=False) == "tool"
    assert _mode("auto", Enforced(), has_tools=False) == "json"
    assert _mode("auto", Enforced(), has_tools=True) == "tool"
    assert _mode("json", Unenforced(), has_tools=True) == "json"


def test_the_grammar_keeps_the_schemas_field_order(demo):
    class Answer(pydantic.BaseModel):
        thoughts: bool
        answer: bool

    spec = OutputSpec(Answer)
    import anyio

    c = anyio.run(lambda: demo.complete(ask("Oslo"), thinking=False, response_format=spec.response_format))
    assert c.content.startswith('{"thoughts": ')
