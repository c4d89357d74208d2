import contextlib
import json
import threading

import anyio
import pytest

from agentkit import (
    Agent,
    ApprovalError,
    Completion,
    CompletionDone,
    MaxTurnsExceeded,
    ModelError,
    ReasoningDelta,
    RunFinished,
    RunResult,
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


async def run_in(mode: str, agent: Agent, *args, **kw) -> RunResult:
    """`agent.run`, or `agent.stream` drained to its result."""
    if mode == "stream":
        events = await collect(agent, *args, **kw)
        assert isinstance(events[-1], RunFinished)
        return events[-1].result
    return await agent.run(*args, **kw)


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
    # Evidence, not timing: each call waits until all four are running at once. Run one at a
    # time (or two at a time), the barrier is never reached and the calls fail.
    running = {"now": 0, "most": 0}
    all_in = anyio.Event()

    @tool
    async def slow_async(n: int) -> int:
        """Wait for the others."""
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        if running["now"] == 4:
            all_in.set()
        with anyio.fail_after(5):
            await all_in.wait()
        running["now"] -= 1
        return n

    barrier = threading.Barrier(4, timeout=5)

    @tool
    def slow_sync(n: int) -> int:
        """Wait for the others, in a thread."""
        barrier.wait()
        return n

    for t in (slow_async, slow_sync):
        calls = "".join(qw_call(t.name, n=i) for i in range(4))
        agent = Agent(ScriptedModel([calls, "done"]), [t])
        result = await agent.run("go")
        check_transcript(result.messages)
        assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["0", "1", "2", "3"], t.name
    assert running["most"] == 4


@pytest.mark.anyio
async def test_early_dispatch_while_streaming():
    tool_ran = anyio.Event()

    @tool
    async def lookup(q: str) -> str:
        """Look up."""
        tool_ran.set()
        return q

    class WaitsForTheTool:
        """Streams a call, then will not finish its message until the tool has run."""

        async def complete(self, *args, **kwargs):
            raise NotImplementedError

        async def stream(self, messages, **kwargs):
            from agentkit.formats import get_format

            if messages[-1]["role"] == "tool":
                yield CompletionDone(completion=Completion(content="done"))
                return
            parser = get_format("qwen3").stream_parser()
            for event in parser.feed(qw_call("lookup", q="x")):
                yield event
            with anyio.fail_after(5):  # without early dispatch the tool never runs: fails here
                await tool_ran.wait()
            for event in [*parser.feed(" and more text"), *parser.close()]:
                yield event
            yield CompletionDone(completion=Completion.from_output(parser.output, usage=Usage()))

    events = await collect(Agent(WaitsForTheTool(), [lookup]), "go")
    kinds = [type(e) for e in events]
    assert kinds.index(ToolCallFinished) < kinds.index(TextDelta) < kinds.index(TurnFinished)
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
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_cancellation_mid_tool_stops_promptly(mode):
    entered = anyio.Event()
    cancelled: list[str] = []

    @tool
    async def forever() -> str:
        """Never returns."""
        entered.set()
        try:
            await anyio.sleep(60)
        except anyio.get_cancelled_exc_class():
            cancelled.append("forever")
            raise
        return "no"

    model = ScriptedModel([qw_call("forever"), "x"])
    agent = Agent(model, [forever])
    with anyio.move_on_after(5) as guard:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_in, mode, agent, "go")
            await entered.wait()
            tg.cancel_scope.cancel()
    # The cancellation reached the tool itself (its 60 s sleep was interrupted), well before the
    # 5 s guard, and the run went no further.
    assert cancelled == ["forever"]
    assert not guard.cancelled_caught
    assert len(model.calls) == 1


@pytest.mark.anyio
async def test_stopping_a_stream_early_cancels_cleanly():
    cancelled: list[str] = []

    @tool
    async def slow() -> str:
        """Slow."""
        try:
            await anyio.sleep(60)
        except anyio.get_cancelled_exc_class():
            cancelled.append("slow")
            raise
        return "no"

    model = ScriptedModel([qw_call("slow"), "x"])
    agent = Agent(model, [slow])
    seen: list[type] = []
    with anyio.fail_after(5):
        async with contextlib.aclosing(agent.stream("go")) as events:
            async for event in events:
                seen.append(type(event))
                if isinstance(event, ToolCallStarted):
                    break
    assert seen[-1] is ToolCallStarted
    assert cancelled == ["slow"]  # closing the stream cancelled the running tool
    assert len(model.calls) == 1  # and no further model call was made


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
    threads: list[int] = []

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        threads.append(threading.get_ident())
        return a + b

    script = [
        Completion(tool_calls=[ToolCall(id="c1", name="add", arguments='{"a": 2, "b": 3}')]),
        Completion(content="5"),
    ]
    model = ScriptedModel(script)
    result = await Agent(model, [add]).run("2+3?")
    assert model.calls[0].tools == ["add"]  # the plain function was offered as a tool
    assert result.messages[1]["tool_calls"][0]["id"] == "c1"  # the Completion's own id is kept
    assert result.messages[2] == {"role": "tool", "tool_call_id": "c1", "name": "add", "content": "5"}
    assert result.output == "5"
    assert threads and threads[0] != threading.get_ident()  # a sync function runs in a worker thread


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


# --- per-run overrides (issue 11, item 4) ------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_per_run_system_reaches_the_model(mode):
    agent, model = weather_agent(system="agent-wide")
    result = await run_in(mode, agent, QUESTION, system="this run only")
    assert model.calls[0].messages[0] == {"role": "system", "content": "this run only"}
    assert result.messages[0] == {"role": "system", "content": "this run only"}
    assert all(c.options == {} for c in model.calls), "an Agent option leaked to the model"
    # Without the override the Agent's own applies again: the override was per run.
    agent, model = weather_agent(system="agent-wide")
    await agent.run(QUESTION)
    assert model.calls[0].messages[0] == {"role": "system", "content": "agent-wide"}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_per_run_approve_is_called(mode):
    asked: list[str] = []

    def deny(call: ToolCall) -> str:
        asked.append(call.name)
        return "not today"

    agent, model = weather_agent()
    result = await run_in(mode, agent, QUESTION, approve=deny)
    assert sorted(asked) == ["get_current_temperature", "get_temperature_date"]
    tool_msgs = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert all("not today" in c for c in tool_msgs)
    assert all(c.options == {} for c in model.calls)
    # And an Agent-wide hook can be switched off for one run.
    agent, _ = weather_agent(approve=deny)
    asked.clear()
    await agent.run(QUESTION, approve=None)
    assert asked == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_per_run_max_tool_output_cuts(mode):
    @tool
    def big() -> str:
        """Return 500 characters."""
        return "y" * 500

    model = ScriptedModel([qw_call("big"), "ok"])
    result = await run_in(mode, Agent(model, [big]), "go", max_tool_output=50)
    assert result.messages[2]["content"] == "y" * 50 + "\n[... truncated 450 characters]"
    assert model.calls[0].options == {}


@pytest.mark.anyio
async def test_per_run_max_turns_and_tool_timeout():
    model = ScriptedModel(lambda messages: qw_call("get_current_temperature", location="Oslo"))
    with pytest.raises(MaxTurnsExceeded):
        await Agent(model, [get_current_temperature], max_turns=10).run("go", max_turns=2)
    assert len(model.calls) == 2

    @tool
    async def hang() -> str:
        """Hang."""
        await anyio.sleep(30)
        return "never"

    model = ScriptedModel([qw_call("hang"), "ok"])
    result = await Agent(model, [hang], tool_timeout=60).run("go", tool_timeout=0.05)
    assert "timed out after 0.05 s" in result.messages[2]["content"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["run", "stream", "run_sync"])
async def test_unknown_keyword_is_a_user_error_before_any_model_call(mode):
    agent, model = weather_agent()
    with pytest.raises(UserError, match="temprature") as info:
        if mode == "run_sync":
            await anyio.to_thread.run_sync(lambda: agent.run_sync(QUESTION, temprature=0.5))
        elif mode == "stream":
            agent.stream(QUESTION, temprature=0.5)  # at the call, not at the first event
        else:
            await agent.run(QUESTION, temprature=0.5)
    assert "max_tokens" in str(info.value) and "approve" in str(info.value)  # it lists what is accepted
    assert model.calls == []
    with pytest.raises(UserError, match="'tools'"):  # tools are the Agent's, not a model option
        await agent.run(QUESTION, tools=[])
    # A model option the backend declares passes.
    await agent.run(QUESTION, temperature=0.5)
    assert model.calls[0].options == {"temperature": 0.5}


@pytest.mark.anyio
async def test_a_model_without_options_gets_every_other_keyword_unchecked():
    seen: list[dict] = []

    class Mine:  # a user's own Model: no `options` attribute
        async def complete(self, messages, *, tools=None, thinking=None, tool_choice=None, **options):
            seen.append(options)
            return Completion(content="hi")

        def stream(self, *args, **kwargs):
            raise NotImplementedError

    result = await Agent(Mine()).run("x", frobnicate=3, system="s", max_turns=1)
    assert seen == [{"frobnicate": 3}]  # the model's option, none of the Agent's
    assert result.messages[0] == {"role": "system", "content": "s"}


# --- a failing approval hook (item 5) ----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_an_approval_hook_that_raises_is_an_approval_error(mode):
    ran: list[str] = []

    @tool
    def delete(path: str) -> str:
        """Delete (pretend)."""
        ran.append(path)
        return f"deleted {path}"

    def approve(call: ToolCall) -> bool:
        if "secret" in call.arguments:
            raise LookupError("policy database unreachable")
        return True

    calls = qw_call("delete", path="/tmp/a") + qw_call("delete", path="/secret") + qw_call("delete", path="/tmp/b")
    model = ScriptedModel([calls, "never asked"])
    with pytest.raises(ApprovalError, match="policy database unreachable") as info:
        await run_in(mode, Agent(model, [delete], approve=approve), "clean")
    error = info.value
    assert not isinstance(error, ModelError)
    assert isinstance(error.__cause__, LookupError)
    assert sorted(ran) == ["/tmp/a", "/tmp/b"]  # the failing call did not run; the approved ones did
    assert len(model.calls) == 1  # the run stopped
    check_transcript(error.messages)
    assert [m["role"] for m in error.messages] == ["user", "assistant", "tool", "tool", "tool"]
    contents = [m["content"] for m in error.messages[2:]]
    assert contents[0] == "deleted /tmp/a" and contents[2] == "deleted /tmp/b"
    assert "not run" in contents[1] and "approval" in contents[1]


# --- side effects survive a failed stream (item 6) ---------------------------------------------


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


@pytest.mark.anyio
async def test_a_stream_that_fails_after_early_dispatch_keeps_what_ran():
    sent: list[str] = []

    @tool
    def send_email(to: str) -> str:
        """Send an email."""
        sent.append(to)
        return f"sent to {to}"

    text = "Sending now. " + qw_call("send_email", to="bob") + '<tool_call>\n{"name": "send_em'
    with pytest.raises(ModelError, match="connection reset") as info:
        await collect(Agent(BreaksAfterText(text), [send_email]), "mail bob")
    assert sent == ["bob"]
    messages = info.value.messages
    check_transcript(messages)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assistant = messages[1]
    assert assistant["content"] == "Sending now."  # the text streamed before the failure
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["send_email"]
    assert messages[2]["content"] == "sent to bob"
    # Resuming from the transcript does not send the email again.
    model = ScriptedModel(["Done: the email went out."])
    result = await Agent(model, [send_email]).run(messages)
    assert sent == ["bob"]
    assert model.calls[0].messages[-1]["content"] == "sent to bob"
    check_transcript(result.messages)


@pytest.mark.anyio
async def test_a_tool_still_running_when_the_stream_fails_is_awaited():
    stream_failed = anyio.Event()
    entered = anyio.Event()

    @tool
    async def book() -> str:
        """Book a flight."""
        entered.set()
        await stream_failed.wait()  # still running when the model's stream breaks
        return "booked AB123"

    async def before_failing():
        await entered.wait()
        stream_failed.set()

    agent = Agent(BreaksAfterText(qw_call("book"), before_failing=before_failing), [book])
    with anyio.fail_after(5), pytest.raises(ModelError) as info:
        await collect(agent, "book it")
    check_transcript(info.value.messages)
    assert info.value.messages[-1]["content"] == "booked AB123"


@pytest.mark.anyio
async def test_a_hung_tool_after_a_failed_stream_is_bounded_by_tool_timeout():
    @tool
    async def hang() -> str:
        """Hang."""
        await anyio.sleep(60)
        return "never"

    agent = Agent(BreaksAfterText(qw_call("hang")), [hang], tool_timeout=0.1)
    with anyio.fail_after(5), pytest.raises(ModelError) as info:
        await collect(agent, "go")
    check_transcript(info.value.messages)
    assert "timed out after 0.1 s" in info.value.messages[-1]["content"]


# --- limits (item 11) ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_max_tool_output_caps_error_text_too(mode):
    @tool
    def loud() -> str:
        """Raise with a huge message."""
        raise ValueError("e" * 50_000)

    model = ScriptedModel([qw_call("loud") + qw_call("nope"), "ok"])
    result = await run_in(mode, Agent(model, [loud], max_tool_output=200), "go")
    sent = [m["content"] for m in model.calls[1].messages if m["role"] == "tool"]
    assert sent[0].startswith("Error: the tool loud raised ValueError: eee")
    assert len(sent[0]) < 300 and sent[0].endswith(" characters]")
    assert "no tool named 'nope'" in sent[1]  # short errors are left whole
    check_transcript(result.messages)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_an_approval_hook_that_hangs_is_bounded(mode):
    ran: list[str] = []

    @tool
    def act() -> str:
        """Act."""
        ran.append("act")
        return "done"

    async def never(call: ToolCall) -> bool:
        await anyio.sleep(60)
        return True

    model = ScriptedModel([qw_call("act"), "ok"])
    with anyio.fail_after(5):
        result = await run_in(mode, Agent(model, [act], approve=never, approval_timeout=0.1), "go")
    assert ran == []
    assert "not approved in time" in result.messages[2]["content"]
    # approval_timeout defaults to tool_timeout.
    model = ScriptedModel([qw_call("act"), "ok"])
    with anyio.fail_after(5):
        result = await run_in(mode, Agent(model, [act], approve=never, tool_timeout=0.1), "go")
    assert ran == [] and "not approved in time" in result.messages[2]["content"]
    check_transcript(result.messages)


@pytest.mark.anyio
async def test_a_sync_approval_hook_does_not_block_the_event_loop():
    entered = threading.Event()
    go_ahead = threading.Event()

    def ask_a_human(call: ToolCall) -> bool:
        entered.set()
        return go_ahead.wait(5)  # False (deny) if the loop never got to set it

    async def human() -> None:
        while not entered.is_set():
            await anyio.sleep(0.01)
        go_ahead.set()  # runs only if the hook left the event loop free

    model = ScriptedModel([qw_call("get_current_temperature", location="Oslo"), "ok"])
    async with anyio.create_task_group() as tg:
        tg.start_soon(human)
        result = await Agent(model, [get_current_temperature], approve=ask_a_human).run("go")
    assert json.loads(result.messages[2]["content"])["location"] == "Oslo"


@pytest.mark.anyio
async def test_a_sync_approval_hook_that_blocks_times_out():
    release = threading.Event()

    def stuck(call: ToolCall) -> bool:
        release.wait(10)
        return True

    model = ScriptedModel([qw_call("get_current_temperature", location="Oslo"), "ok"])
    try:
        with anyio.fail_after(5):
            result = await Agent(model, [get_current_temperature], approve=stuck, approval_timeout=0.1).run("go")
    finally:
        release.set()
    assert "not approved in time" in result.messages[2]["content"]


# --- check_transcript is a real check -----------------------------------------------------------


def test_check_transcript_raises_under_python_dash_O():
    import subprocess
    import sys

    code = (
        "from agentkit.testing import check_transcript\n"
        "call = {'id': 'a', 'type': 'function', 'function': {'name': 'f', 'arguments': '{}'}}\n"
        "check_transcript([{'role': 'user', 'content': 'x'},\n"
        "                  {'role': 'assistant', 'content': '', 'tool_calls': [call]}])\n"
    )
    proc = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "AssertionError: message 1: tool call 'a' has no tool message" in proc.stderr


@pytest.mark.anyio
async def test_a_tool_that_raises_timeout_error_is_not_a_timeout():
    @tool
    def upstream() -> str:
        """Call a slow service."""
        raise TimeoutError("the weather service did not answer")

    model = ScriptedModel([qw_call("upstream"), "ok"])
    result = await Agent(model, [upstream]).run("go")  # no tool_timeout at all
    assert result.messages[2]["content"] == (
        "Error: the tool upstream raised TimeoutError: the weather service did not answer"
    )
