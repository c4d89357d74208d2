"""The agent loop: turns, concurrent and early-dispatched tool calls, events, cancellation."""

import contextlib
import json
import threading

import anyio
import pytest

from agentkit import (
    Agent,
    Completion,
    CompletionDone,
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
from tests.agent_helpers import (
    QUESTION,
    WEATHER_SCRIPT,
    collect,
    get_current_temperature,
    get_temperature_date,  # noqa: F401 -- other test modules import it from here
    qw_call,
    run_in,
    weather_agent,
)


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
    # Two model calls, two tool calls: the loop counts those; the tokens are the model's.
    return Usage(prompt_tokens=2, completion_tokens=sum(len(s) for s in WEATHER_SCRIPT), requests=2, tool_calls=2)


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
    turns = [e for e in events if isinstance(e, TurnFinished)]
    assert [t.turn for t in turns] == [0, 1]
    assert [len(t.completion.tool_calls) for t in turns] == [2, 0] and turns[1].completion.content == result.output
    calls = [c["id"] for c in result.messages[1]["tool_calls"]]
    assert sorted(e.call.id for e in events if isinstance(e, ToolCallStarted)) == sorted(calls)
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
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_per_turn_thinking_and_tool_choice_reach_the_model(mode):
    agent, model = weather_agent(
        thinking=lambda turn: turn == 0, tool_choice=lambda turn: "required" if turn == 0 else "auto"
    )
    await run_in(mode, agent, QUESTION, max_tokens=64)
    assert [c.tools for c in model.calls] == [["get_current_temperature", "get_temperature_date"]] * 2
    assert [c.thinking for c in model.calls] == [True, False]
    assert [c.tool_choice for c in model.calls] == ["required", "auto"]
    assert model.calls[0].options == {"max_tokens": 64}
    agent2, model2 = weather_agent(thinking=True)
    await agent2.run(QUESTION, thinking=False)  # override per run
    assert [c.thinking for c in model2.calls] == [False, False]


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
        [{**good[0], "tool_calls": [call]}, good[2]],  # tool calls in a user message
        [good[0], {**good[1], "tool_calls": [{"id": "a", "type": "function"}]}, good[2]],  # no function
        [good[0], good[1], {**good[2], "name": "g"}],  # answered under another name
        [good[0], good[1], {**good[2], "content": None}],  # no text
        [{"role": "robot", "content": "x"}],
    ]
    for bad in bad_cases:
        with pytest.raises(AssertionError, match=r"^message \d+: "):
            check_transcript(bad)


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
async def test_tool_calls_are_logged_names_at_info_arguments_at_debug(caplog):
    @tool
    def fail(secret_arg: str) -> str:
        """Raise."""
        raise RuntimeError("nope")

    model = ScriptedModel(
        [qw_call("get_current_temperature", location="Narvik") + qw_call("fail", secret_arg="s3"), "ok"]
    )
    with caplog.at_level("DEBUG", logger="agentkit"):
        result = await Agent(model, [get_current_temperature, fail]).run("go")
    ids = [c["id"] for c in result.messages[1]["tool_calls"]]
    info = [r for r in caplog.records if r.levelname == "INFO"]
    debug = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"]
    assert f"running tool get_current_temperature (call {ids[0]})" in [r.getMessage() for r in info]
    assert f"running tool fail (call {ids[1]})" in [r.getMessage() for r in info]
    raised = next(r for r in info if r.getMessage() == "tool fail raised RuntimeError")
    assert raised.exc_info and raised.exc_info[0] is RuntimeError  # the traceback is in the log, not for the model
    assert not any("Narvik" in r.getMessage() or "s3" in r.getMessage() for r in info)
    assert 'tool get_current_temperature arguments: {"location": "Narvik"}' in debug
    assert "turn 0: calling the model with 1 messages" in debug and "turn 1: calling the model with 4 messages" in debug


@pytest.mark.anyio
async def test_stopping_a_stream_closes_the_models_stream_at_once():
    # The model's stream is an async generator holding a connection: closing the agent's stream
    # must close it then (its cleanup may await), not leave it to the garbage collector.
    closed: list[str] = []
    yielded = {"n": 0}

    class Long:
        async def complete(self, *args, **kwargs):
            raise NotImplementedError

        async def stream(self, messages, **kwargs):
            # No await between events: the agent is cancelled while this generator waits at a
            # `yield`, so only the agent can close it.
            try:
                for _ in range(10_000):
                    yielded["n"] += 1
                    yield TextDelta("more ")
                yield CompletionDone(completion=Completion(content="more " * 10_000))
            finally:
                await anyio.sleep(0)  # cleanup that awaits, e.g. closing an HTTP response
                closed.append("closed")

    with anyio.fail_after(5):
        async with contextlib.aclosing(Agent(Long()).stream("go")) as events:
            async for event in events:
                assert isinstance(event, TextDelta)
                break
    assert yielded["n"] < 10_000  # the run was stopped, not finished
    assert closed == ["closed"]


@pytest.mark.anyio
async def test_calls_of_a_whole_completion_in_a_stream_get_their_events():
    # A backend may deliver a message whole (no ToolCallReady): its calls still emit events.
    script = [
        Completion(tool_calls=[ToolCall(id="a", name="get_current_temperature", arguments='{"location": "Oslo"}'),
                               ToolCall(id="b", name="get_current_temperature", arguments='{"location": "Rome"}')]),
        Completion(content="ok"),
    ]  # fmt: skip
    events = await collect(Agent(ScriptedModel(script), [get_current_temperature]), "go")
    started = sorted(e.call.id for e in events if isinstance(e, ToolCallStarted))
    finished = {e.call.id: e.content for e in events if isinstance(e, ToolCallFinished)}
    assert started == ["a", "b"]
    assert json.loads(finished["a"])["location"] == "Oslo" and json.loads(finished["b"])["location"] == "Rome"


@pytest.mark.anyio
async def test_a_scripted_model_runs_calls_from_its_reasoning_as_local_model_does():
    """ScriptedModel decides calls written in the reasoning as LocalModel does
    (agentkit/_reasoned.py): the block ending the reasoning runs, a drafted one does not."""
    block = '<tool_call>\n{"name": "get_current_temperature", "arguments": {"location": "Oslo"}}\n</tool_call>'
    user = [{"role": "user", "content": QUESTION}]
    for streaming in (False, True):
        model = ScriptedModel([f"<think>Look it up.\n{block}\n", f"<think>Maybe {block} -- no.</think>"])
        done = []
        for _ in range(2):
            if streaming:
                done.append([e async for e in model.stream(user, tools=[get_current_temperature])][-1].completion)
            else:
                done.append(await model.complete(user, tools=[get_current_temperature]))
        assert [[c.name for c in d.tool_calls] for d in done] == [["get_current_temperature"], []]
