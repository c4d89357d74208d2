import contextlib
import json
import threading
import time

import anyio
import pytest

from agentkit import (
    Agent,
    Completion,
    MaxTurnsExceeded,
    ModelError,
    ReasoningDelta,
    RunFinished,
    TextDelta,
    ToolCall,
    ToolCallFinished,
    ToolCallReady,
    ToolCallStarted,
    TurnFinished,
    Usage,
    UserError,
    tool,
)
from agentkit.testing import ScriptedModel, check_transcript


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


@pytest.mark.anyio
async def test_weather_run_goes_through_the_loop():
    agent, model = weather_agent(system="You are a weather bot.")
    result = await agent.run(QUESTION)
    check_transcript(result.messages)
    assert result.output == "It is 26.1 °C now and 25.9 °C tomorrow in San Francisco."
    assert result.reasoning == "Got both."
    assert result.turns == 2
    roles = [m["role"] for m in result.messages]
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assistant = result.messages[2]
    assert assistant["reasoning_content"] == "The user asks for now and tomorrow."
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == [
        "get_current_temperature",
        "get_temperature_date",
    ]
    assert json.loads(result.messages[3]["content"]) == {
        "temperature": 26.1, "location": "San Francisco, CA, USA", "unit": "celsius"
    }  # fmt: skip
    assert result.messages[4]["name"] == "get_temperature_date"
    # The second model call saw the tool results.
    assert [m["role"] for m in model.calls[1].messages][-2:] == ["tool", "tool"]
    assert model.calls[0].tools == ["get_current_temperature", "get_temperature_date"]
    assert result.usage == model_usage(model)


def model_usage(model: ScriptedModel) -> Usage:
    return Usage(prompt_tokens=2, completion_tokens=sum(len(s) for s in WEATHER_SCRIPT))


@pytest.mark.anyio
async def test_stream_events_in_order_and_same_result():
    agent, _ = weather_agent()
    events = await collect(agent, QUESTION)
    kinds = [type(e) for e in events]
    assert kinds[-1] is RunFinished
    assert kinds.count(TurnFinished) == 2
    assert kinds.count(ToolCallStarted) == kinds.count(ToolCallFinished) == 2
    assert kinds.index(ReasoningDelta) < kinds.index(ToolCallStarted) < kinds.index(TextDelta)
    result = events[-1].result
    check_transcript(result.messages)
    streamed = "".join(e.text for e in events[kinds.index(TurnFinished) :] if isinstance(e, TextDelta))
    assert streamed == result.output


@pytest.mark.anyio
async def test_string_input_list_input_and_system():
    agent, model = weather_agent(system="S")
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    result = await agent.run([*history, {"role": "user", "content": QUESTION}])
    assert result.messages[:3] == [{"role": "system", "content": "S"}, *history]
    assert model.calls[0].messages[0] == {"role": "system", "content": "S"}
    # A conversation with its own system message keeps it, and only it.
    agent, model = weather_agent(system="S")
    own = [{"role": "system", "content": "mine"}, {"role": "user", "content": QUESTION}]
    result = await agent.run(own)
    assert [m for m in result.messages if m["role"] == "system"] == [{"role": "system", "content": "mine"}]


@pytest.mark.anyio
async def test_several_calls_run_concurrently():
    @tool
    async def slow_async(n: int) -> int:
        """Sleep."""
        await anyio.sleep(0.2)
        return n

    @tool
    def slow_sync(n: int) -> int:
        """Sleep in a thread."""
        time.sleep(0.2)
        return n

    for t in (slow_async, slow_sync):
        calls = "".join(qw_call(t.name, n=i) for i in range(4))
        agent = Agent(ScriptedModel([calls, "done"]), [t])
        start = time.perf_counter()
        result = await agent.run("go")
        elapsed = time.perf_counter() - start
        check_transcript(result.messages)
        assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["0", "1", "2", "3"]
        assert elapsed < 0.7, f"{t.name}: 4 x 200 ms took {elapsed:.2f} s"  # sequential: 0.8 s


@pytest.mark.anyio
async def test_early_dispatch_while_streaming():
    started_at: list[float] = []

    @tool
    async def lookup(q: str) -> str:
        """Look up."""
        started_at.append(time.perf_counter())
        return q

    tail = " and then the model keeps writing for a while" * 3
    model = ScriptedModel([qw_call("lookup", q="x") + tail, "done"], chunk=4, delay=0.005)
    events = await collect(Agent(model, [lookup]), "go")
    kinds = [type(e) for e in events]
    first_finish = kinds.index(ToolCallFinished)
    later_text = [i for i, k in enumerate(kinds) if k is TextDelta and i > first_finish]
    turn_end = kinds.index(TurnFinished)
    assert later_text and later_text[0] < turn_end, "the tool finished before the message ended"
    check_transcript(events[-1].result.messages)


@pytest.mark.anyio
async def test_per_turn_thinking_and_tool_choice_reach_the_model():
    agent, model = weather_agent(
        thinking=lambda turn: turn == 0, tool_choice=lambda turn: "required" if turn == 0 else "auto"
    )
    await agent.run(QUESTION, max_tokens=64)
    assert [c.thinking for c in model.calls] == [True, False]
    assert [c.tool_choice for c in model.calls] == ["required", "auto"]
    assert model.calls[0].options == {"max_tokens": 64}
    agent2, model2 = weather_agent(thinking=True)
    await agent2.run(QUESTION, thinking=False)  # override per run
    assert [c.thinking for c in model2.calls] == [False, False]


@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [False, True])
async def test_every_tool_failure_is_told_to_the_model(streaming):
    @tool
    def boom(x: int) -> int:
        """Raise."""
        raise ValueError("the sensor is offline")

    @tool
    async def hang() -> str:
        """Hang."""
        await anyio.sleep(30)
        return "never"

    @tool
    def weird() -> object:
        """Return something that is not JSON."""
        return object()

    @tool
    def huge() -> str:
        """Return a lot."""
        return "x" * 500

    calls = (
        qw_call("boom", x=1) + qw_call("nope") + qw_call("boom", x="one") + qw_call("hang")
        + qw_call("weird") + qw_call("huge") + "<tool_call>{not json</tool_call>"
    )  # fmt: skip
    model = ScriptedModel([calls, "sorry"])
    agent = Agent(model, [boom, hang, weird, huge], tool_timeout=0.2, max_tool_output=100)
    if streaming:
        events = await collect(agent, "go")
        result = events[-1].result
        errors = [e.error for e in events if isinstance(e, ToolCallFinished)]
        assert sum(e is not None for e in errors) == 6
    else:
        result = await agent.run("go")
    check_transcript(result.messages)
    contents = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert "ValueError: the sensor is offline" in contents[0]
    assert "no tool named 'nope'" in contents[1] and "boom, hang, weird, huge" in contents[1]
    assert "x: 'one' is not of type 'integer'" in contents[2]
    assert "timed out after 0.2 s" in contents[3]
    assert "cannot be sent as JSON" in contents[4]
    assert contents[5].startswith("x" * 100) and contents[5].endswith("[... truncated 400 characters]")
    assert "could not be read" in contents[6] and "not valid JSON" in contents[6]
    assert result.output == "sorry"
    # The model saw every error on its next turn.
    assert [m["role"] for m in model.calls[1].messages].count("tool") == 7


@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [False, True])
async def test_model_error_carries_a_valid_transcript(streaming):
    model = ScriptedModel([qw_call("get_current_temperature", location="Oslo"), RuntimeError("server down")])
    agent = Agent(model, [get_current_temperature])
    with pytest.raises(ModelError, match="server down") as info:
        if streaming:
            await collect(agent, "go")
        else:
            await agent.run("go")
    check_transcript(info.value.messages)
    assert [m["role"] for m in info.value.messages] == ["user", "assistant", "tool"]


@pytest.mark.anyio
async def test_max_turns():
    model = ScriptedModel(lambda messages: qw_call("get_current_temperature", location="Oslo"))
    agent = Agent(model, [get_current_temperature], max_turns=3)
    with pytest.raises(MaxTurnsExceeded) as info:
        await agent.run("loop forever")
    check_transcript(info.value.messages)
    assert len(model.calls) == 3
    assert [m["role"] for m in info.value.messages].count("tool") == 3


@pytest.mark.anyio
async def test_approval_hook():
    ran: list[str] = []

    @tool
    def delete(path: str) -> str:
        """Delete a file (pretend)."""
        ran.append(path)
        return "deleted"

    async def approve(call: ToolCall) -> bool | str:
        return True if json.loads(call.arguments)["path"].startswith("/tmp/") else "outside /tmp"

    model = ScriptedModel([qw_call("delete", path="/etc/passwd") + qw_call("delete", path="/tmp/x"), "ok"])
    result = await Agent(model, [delete], approve=approve).run("clean up")
    check_transcript(result.messages)
    tool_msgs = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert "did not allow" in tool_msgs[0] and "outside /tmp" in tool_msgs[0]
    assert tool_msgs[1] == "deleted" and ran == ["/tmp/x"]


@pytest.mark.anyio
async def test_cancellation_mid_tool_stops_promptly():
    entered = anyio.Event()

    @tool
    async def forever() -> str:
        """Never returns."""
        entered.set()
        await anyio.sleep(60)
        return "no"

    agent = Agent(ScriptedModel([qw_call("forever"), "x"]), [forever])
    start = time.perf_counter()
    with anyio.move_on_after(5) as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(agent.run, "go")
            await entered.wait()
            tg.cancel_scope.cancel()
    assert not scope.cancelled_caught
    assert time.perf_counter() - start < 2


@pytest.mark.anyio
async def test_stopping_a_stream_early_cancels_cleanly():
    @tool
    async def slow() -> str:
        """Slow."""
        await anyio.sleep(60)
        return "no"

    agent = Agent(ScriptedModel([qw_call("slow"), "x"]), [slow])
    async with contextlib.aclosing(agent.stream("go")) as events:
        async for event in events:
            if isinstance(event, ToolCallStarted):
                break


@pytest.mark.anyio
async def test_many_concurrent_runs_on_one_agent():
    def respond(messages):
        last = messages[-1]
        if last["role"] == "user":
            return qw_call("get_current_temperature", location=last["content"])
        return f"It is {json.loads(last['content'])['temperature']} in {json.loads(last['content'])['location']}"

    agent = Agent(ScriptedModel(respond), [get_current_temperature])
    results: dict[int, str] = {}

    async def one(i: int) -> None:
        result = await agent.run(f"City {i}")
        check_transcript(result.messages)
        results[i] = result.output

    async with anyio.create_task_group() as tg:
        for i in range(300):
            tg.start_soon(one, i)
    assert results == {i: f"It is 26.1 in City {i}" for i in range(300)}


def test_run_sync_and_trio():
    agent, _ = weather_agent()
    assert "26.1" in agent.run_sync(QUESTION).output
    agent, _ = weather_agent()
    result = anyio.run(agent.run, QUESTION, backend="trio")
    check_transcript(result.messages)

    async def streamed():
        agent, _ = weather_agent()
        return await collect(agent, QUESTION)

    assert isinstance(anyio.run(streamed, backend="trio")[-1], RunFinished)


@pytest.mark.anyio
async def test_tool_results_are_json_with_unicode_and_models():
    import dataclasses

    @dataclasses.dataclass
    class Reading:
        city: str
        celsius: float

    @tool
    def read(city: str) -> Reading:
        """Read."""
        return Reading(city=city, celsius=-3.5)

    result = await Agent(ScriptedModel([qw_call("read", city="Zürich"), "ok"]), [read]).run("go")
    assert result.messages[2]["content"] == '{"city": "Zürich", "celsius": -3.5}'


@pytest.mark.anyio
async def test_early_dispatch_answers_every_call_once():
    count = {"n": 0}

    @tool
    def tick() -> int:
        """Count."""
        count["n"] += 1
        return count["n"]

    model = ScriptedModel([qw_call("tick") * 3, "done"], chunk=1)
    events = await collect(Agent(model, [tick]), "go")
    assert count["n"] == 3
    assert sum(isinstance(e, ToolCallReady) for e in events) == 3
    check_transcript(events[-1].result.messages)


def test_duplicate_tool_names_are_refused():
    with pytest.raises(UserError, match="two tools"):
        Agent(ScriptedModel([]), [get_current_temperature, get_current_temperature])


@pytest.mark.anyio
async def test_completion_objects_and_plain_functions_as_tools():
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    script = [
        Completion(tool_calls=[ToolCall(id="c1", name="add", arguments='{"a": 2, "b": 3}')]),
        Completion(content="5"),
    ]
    result = await Agent(ScriptedModel(script), [add]).run("2+3?")
    assert result.messages[2] == {"role": "tool", "tool_call_id": "c1", "name": "add", "content": "5"}
    assert threading.active_count() >= 1


def test_transcript_validator_catches_bad_transcripts():
    call = {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    good = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "a", "name": "f", "content": "1"}]  # fmt: skip
    check_transcript(good)
    bad_cases = [
        good[:2],  # unanswered
        [*good, good[2]],  # answered twice
        [good[0], good[1], {**good[2], "tool_call_id": "b"}],  # wrong id
        [good[0], {**good[1], "tool_calls": [call, call]}, good[2], good[2]],  # duplicate id
    ]
    for bad in bad_cases:
        with pytest.raises(AssertionError):
            check_transcript(bad)
