"""Typed results: `output_type` in "tool" and "json" modes, retries, and what the model is told."""

import dataclasses
import json
from typing import Annotated, Literal

import pydantic
import pytest
from typing_extensions import TypedDict

from agentkit import Agent, OutputValidationError, UserError
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import get_current_temperature, qw_call, run_in

MODES = ["run", "stream"]


class Weather(pydantic.BaseModel):
    city: str
    celsius: float = pydantic.Field(ge=-90, le=60)


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Person(TypedDict):
    name: str
    age: int


class Cat(pydantic.BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(pydantic.BaseModel):
    kind: Literal["dog"]
    good: bool


def model(*script, options=("temperature", "max_tokens")) -> ScriptedModel:
    return ScriptedModel(list(script), format="qwen3", options=options)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_tool_mode_gives_a_pydantic_value_and_a_valid_transcript(mode):
    m = model(qw_call("final_result", city="Oslo", celsius=-3.5))
    agent = Agent(m, output_type=Weather, output_mode="tool")
    result = await run_in(mode, agent, "Weather in Oslo?")
    assert result.output == Weather(city="Oslo", celsius=-3.5)
    assert type(result.output) is Weather
    check_transcript(result.messages)
    assert result.messages[-1]["role"] == "tool" and result.messages[-1]["content"] == "Final result accepted."
    assert m.calls[0].tools == ["final_result"]
    assert result.turns == 1 and result.usage.requests == 1 and result.usage.tool_calls == 0


@pytest.mark.anyio
async def test_the_final_result_tool_has_the_types_schema():
    seen = []
    m = ScriptedModel([qw_call("final_result", city="Oslo", celsius=1)], format="qwen3")
    agent = Agent(m, [get_current_temperature], output_type=Weather, output_mode="tool")
    original = m._respond

    def record(messages, tools, *args):
        seen.append([t if isinstance(t, dict) else t.schema for t in tools])
        return original(messages, tools, *args)

    m._respond = record
    await agent.run("x")
    final = next(t for t in seen[0] if t["function"]["name"] == "final_result")["function"]
    assert final["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "number", "minimum": -90, "maximum": 60}},
        "required": ["city", "celsius"],
    }
    assert [t["function"]["name"] for t in seen[0]] == ["get_current_temperature", "final_result"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("output_type", "arguments", "expected"),
    [
        (int, {"result": 42}, 42),
        (float, {"result": 2}, 2.0),
        (list[str], {"result": ["a", "b"]}, ["a", "b"]),
        (Literal["yes", "no"], {"result": "no"}, "no"),
        (Point, {"x": 1, "y": 2}, Point(1, 2)),
        (Person, {"name": "Ada", "age": 36}, {"name": "Ada", "age": 36}),
        (Cat | Dog, {"result": {"kind": "dog", "good": True}}, Dog(kind="dog", good=True)),
        (tuple[int, str], {"result": [1, "a"]}, (1, "a")),
    ],
)
async def test_every_kind_of_type(output_type, arguments, expected):
    m = model(f"<tool_call>\n{json.dumps({'name': 'final_result', 'arguments': arguments})}\n</tool_call>")
    result = await Agent(m, output_type=output_type, output_mode="tool").run("x")
    assert result.output == expected
    assert type(result.output) is type(expected)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_invalid_output_is_told_with_every_problem_then_corrected(mode):
    m = model(
        qw_call("final_result", city=3, fahrenheit=500),
        qw_call("final_result", city="Oslo", celsius=5),
    )
    result = await run_in(mode, Agent(m, output_type=Weather, output_mode="tool"), "x")
    assert result.output == Weather(city="Oslo", celsius=5)
    told = result.messages[2]
    assert told["role"] == "tool" and told["name"] == "final_result"
    assert 'city: 3 is not of type "string"' in told["content"]
    assert "missing required argument 'celsius'" in told["content"]
    assert "unknown argument 'fahrenheit'; final_result takes: city, celsius" in told["content"]
    assert m.calls[1].messages[-1] == told  # the model saw it
    check_transcript(result.messages)
    assert result.turns == 2


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("retries", [0, 1, 2])
async def test_retries_run_out_with_a_typed_error_and_a_valid_transcript(mode, retries):
    bad = qw_call("final_result", city="Oslo", celsius="warm")
    m = model(*[bad] * (retries + 1))
    agent = Agent(m, output_type=Weather, output_mode="tool", output_retries=retries)
    with pytest.raises(OutputValidationError) as info:
        await run_in(mode, agent, "x")
    assert len(m.calls) == retries + 1
    assert info.value.problems == ['celsius: "warm" is not of type "number"']
    check_transcript(info.value.messages)
    assert info.value.messages[-1]["role"] == "tool"


@pytest.mark.anyio
async def test_a_pydantic_constraint_problem_is_told_too():
    m = model(qw_call("final_result", city="Oslo", celsius=500), qw_call("final_result", city="Oslo", celsius=5))
    result = await Agent(m, output_type=Weather, output_mode="tool").run("x")
    # The Field's bound is in the schema, so the schema check words it.
    assert "celsius: 500 is greater than the maximum of 60\n" in result.messages[2]["content"]
    assert result.output.celsius == 5


@pytest.mark.anyio
async def test_a_pydantic_validator_problem_is_told_too():
    m = model(qw_call("final_result", n=3), qw_call("final_result", n=4))
    result = await Agent(m, output_type=Even, output_mode="tool").run("x")
    assert result.output == Even(n=4)
    assert "n must be even" in result.messages[2]["content"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_plain_text_answer_in_tool_mode_is_sent_back(mode):
    m = model("It is cold.", qw_call("final_result", result=7))
    result = await run_in(mode, Agent(m, output_type=int, output_mode="tool"), "x")
    assert result.output == 7
    retry = {
        "role": "user",
        "content": "Your answer was not given with the final_result tool. Call final_result with the answer.",
    }
    assert result.messages[2] == {**retry, "agentkit_inserted": "output_retry"}  # the run's own: starts no turn
    assert m.calls[1].messages[-1] == retry  # the mark is never sent
    check_transcript(result.messages)


@pytest.mark.anyio
async def test_other_tools_run_before_the_final_result():
    m = model(
        qw_call("get_current_temperature", location="Oslo"),
        qw_call("final_result", city="Oslo", celsius=26.1),
    )
    agent = Agent(m, [get_current_temperature], output_type=Weather, output_mode="tool")
    result = await agent.run("x")
    assert result.output.celsius == 26.1
    assert [m_["role"] for m_ in result.messages] == ["user", "assistant", "tool", "assistant", "tool"]
    assert result.usage.tool_calls == 1


JSON_OPTIONS = ("temperature", "response_format")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_json_mode_asks_the_server_for_the_schema_and_parses_the_content(mode):
    m = model('{"city": "Oslo", "celsius": 4}', options=JSON_OPTIONS)
    result = await run_in(mode, Agent(m, output_type=Weather, output_mode="json", system="Be brief."), "x")
    assert result.output == Weather(city="Oslo", celsius=4)
    sent = m.calls[0].options["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "final_result" and sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"]["additionalProperties"] is False
    system = result.messages[0]["content"]
    assert system.startswith("Be brief.\n\nAnswer with only a JSON object that matches this JSON schema:\n")
    assert json.loads(system.split("schema:\n", 1)[1])["required"] == ["city", "celsius"]
    assert m.calls[0].tools == []


@pytest.mark.anyio
async def test_json_mode_wraps_a_scalar_and_accepts_a_fenced_answer():
    m = model('```json\n{"result": [1, 2]}\n```', options=JSON_OPTIONS)
    result = await Agent(m, output_type=list[int], output_mode="json").run("x")
    assert result.output == [1, 2]
    schema = m.calls[0].options["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["result"] == {"type": "array", "items": {"type": "integer"}}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_json_mode_tells_the_model_what_is_wrong_in_a_user_message(mode):
    m = model("Oslo, 4 degrees", '{"city": "Oslo"}', '{"city": "Oslo", "celsius": 4}', options=JSON_OPTIONS)
    result = await run_in(mode, Agent(m, output_type=Weather, output_mode="json"), "x")
    assert result.output.celsius == 4
    roles = [x["role"] for x in result.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert result.messages[2]["content"] == "Oslo, 4 degrees"  # the invalid answer stays
    assert result.messages[3]["content"].startswith("Your answer is not valid:\n- the output is not valid JSON")
    assert result.messages[5]["content"] == (
        "Your answer is not valid:\n- missing required argument 'celsius'\nAnswer again with only the JSON object."
    )


@pytest.mark.anyio
async def test_json_mode_runs_out_of_retries():
    m = model("nope", "still no", options=JSON_OPTIONS)
    with pytest.raises(OutputValidationError) as info:
        await Agent(m, output_type=int, output_mode="json", output_retries=1).run("x")
    assert len(m.calls) == 2
    assert info.value.messages[-1] == {"role": "assistant", "content": "still no"}
    assert info.value.problems[0].startswith("the output is not valid JSON")


@pytest.mark.anyio
async def test_reasoning_never_leaks_into_the_parsed_output():
    text = 'I think {"result": 1} is wrong.</think>{"result": 2}'
    m = ScriptedModel([text], format="qwen3", in_reasoning=True, options=JSON_OPTIONS)
    result = await Agent(m, output_type=int, output_mode="json", thinking=True).run("x")
    assert result.output == 2
    assert result.reasoning == 'I think {"result": 1} is wrong.'


@pytest.mark.anyio
async def test_auto_mode_picks_per_backend():
    takes_format = model('{"result": 1}', options=JSON_OPTIONS)
    assert (await Agent(takes_format, output_type=int).run("x")).output == 1
    assert "response_format" in takes_format.calls[0].options
    # With tools a constrained answer could not call them: a final_result tool instead.
    with_tools = model(qw_call("final_result", result=1), options=JSON_OPTIONS)
    assert (await Agent(with_tools, [get_current_temperature], output_type=int).run("x")).output == 1
    assert "response_format" not in with_tools.calls[0].options
    assert with_tools.calls[0].tools == ["get_current_temperature", "final_result"]
    no_format = model(qw_call("final_result", result=1))
    assert (await Agent(no_format, output_type=int).run("x")).output == 1


@pytest.mark.anyio
async def test_output_type_can_be_given_per_run():
    m = model(qw_call("final_result", result=3), "plain")
    agent = Agent(m)
    assert (await agent.run("x", output_type=int)).output == 3
    assert (await agent.run("x")).output == "plain"


def test_bad_output_settings_are_the_callers_errors():
    m = model()

    def final_result() -> str:
        """Clashes."""
        return ""

    with pytest.raises(UserError, match="a tool is named 'final_result'"):
        Agent(m, [final_result], output_type=int)
    Agent(m, [final_result])  # text output needs no final_result tool
    with pytest.raises(UserError, match="cannot be described as JSON"):
        Agent(m, output_type=dict[int, str])
    with pytest.raises(UserError, match="output_mode must be"):
        Agent(m, output_type=int, output_mode="xml").run_sync("x")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="output_retries must be"):
        Agent(m, output_type=int, output_retries=-1).run_sync("x")


def test_the_json_instruction_goes_into_the_system_message_once():
    from agentkit._output import with_instruction

    messages = [{"role": "user", "content": "x"}]
    with_instruction(messages, "FORMAT")
    assert messages[0] == {"role": "system", "content": "FORMAT"}
    with_instruction(messages, "FORMAT")
    assert len(messages) == 2 and messages[0]["content"] == "FORMAT"
    messages = [{"role": "system", "content": ""}, {"role": "user", "content": "x"}]
    with_instruction(messages, "FORMAT")
    assert messages[0]["content"] == "FORMAT"
    parts = [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]}]
    with_instruction(parts, "FORMAT")
    with_instruction(parts, "FORMAT")
    assert parts[0]["content"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "FORMAT"}]


@pytest.mark.anyio
async def test_json_mode_on_a_backend_without_response_format_sends_only_the_instruction():
    m = model('{"result": 5}', options=("temperature",))
    result = await Agent(m, output_type=int, output_mode="json").run("x")
    assert result.output == 5
    assert "response_format" not in m.calls[0].options
    assert m.calls[0].messages[0]["content"].startswith("Answer with only a JSON object")


class Even(pydantic.BaseModel):
    n: int

    @pydantic.field_validator("n")
    @classmethod
    def even(cls, v: int) -> int:
        if v % 2:
            raise ValueError("n must be even")
        return v


def test_a_wrapped_types_conversion_problem_names_its_path():
    from agentkit._output import InvalidOutput, OutputSpec

    spec = OutputSpec(list[Even])
    with pytest.raises(InvalidOutput) as info:
        spec.from_arguments({"result": [{"n": 2}, {"n": 3}]})
    assert info.value.problems == ["result.n: Value error, n must be even"]
    assert str(info.value) == "result.n: Value error, n must be even"
    assert spec.from_arguments({"result": [{"n": 2}]}) == [Even(n=2)]  # a dict, as decoded arguments
    assert spec.from_arguments('{"result": []}') == []
    with pytest.raises(InvalidOutput) as info:
        OutputSpec(Even).from_arguments({"n": 1})
    assert info.value.problems == ["n: Value error, n must be even"]


def test_an_output_too_costly_to_check_is_refused_not_passed(monkeypatch):
    from agentkit import _validation
    from agentkit._output import InvalidOutput, OutputSpec

    spec = OutputSpec(list[int])
    monkeypatch.setattr(_validation, "STEPS", 10)
    monkeypatch.setattr(_validation, "STEPS_PER_PART", 0)
    with pytest.raises(InvalidOutput, match="the output cannot be checked: the schema is too costly to check"):
        spec.from_arguments({"result": list(range(100))})
    assert spec.from_arguments({"result": [1, 2]}) == [1, 2]


@dataclasses.dataclass
class Review:
    stars: Annotated[int, pydantic.Field(ge=1, le=5)]
    summary: Annotated[str, pydantic.Field(max_length=20)]


def test_field_constraints_of_an_output_type_are_in_its_schema_and_checked():
    from agentkit._output import InvalidOutput, OutputSpec

    spec = OutputSpec(Review)
    assert spec.parameters["properties"] == {
        "stars": {"type": "integer", "minimum": 1, "maximum": 5},
        "summary": {"type": "string", "maxLength": 20},
    }
    assert spec.from_arguments({"stars": 5, "summary": "fine"}) == Review(stars=5, summary="fine")
    with pytest.raises(InvalidOutput) as info:
        spec.from_arguments({"stars": 0, "summary": "x" * 21})
    assert info.value.problems == ["stars: 0 is less than the minimum of 1", 'summary: "' + 'x' * 21 + '" is too long']
    # A pydantic model's Field constraints are told to the model too, not only checked by pydantic.
    assert OutputSpec(Weather).parameters["properties"]["celsius"] == {"type": "number", "minimum": -90, "maximum": 60}


def test_an_output_constraint_that_cannot_be_checked_is_a_user_error_when_the_agent_is_built():
    @dataclasses.dataclass
    class Ahead:
        word: Annotated[str, pydantic.Field(pattern="^(?=a)")]

    @dataclasses.dataclass
    class Odd:
        word: Annotated[str, pydantic.Field(gt=1)]

    with pytest.raises(UserError, match=r"Ahead'>: the pattern '\^\(\?=a\)' cannot be checked: invalid perl"):
        Agent(ScriptedModel(["x"]), output_type=Ahead)
    with pytest.raises(UserError, match=r"cannot be described as JSON: unsupported type str \(the constraint gt=1 needs a number"):
        Agent(ScriptedModel(["x"]), output_type=Odd)


@pytest.mark.anyio
async def test_max_turns_keeps_the_last_correction_in_the_transcript():
    # Attacker review of issue 23 (#4): the seam's first version left the retry message out.
    from agentkit import MaxTurnsExceeded

    model = ScriptedModel(["not json", "still not json"])
    agent = Agent(model, output_type=int, output_mode="json", output_retries=5, max_turns=2)
    with pytest.raises(MaxTurnsExceeded) as info:
        await agent.run("a number")
    roles = [m["role"] for m in info.value.messages]
    assert roles[-1] == "user" and info.value.messages[-1].get("agentkit_inserted") == "output_retry"
