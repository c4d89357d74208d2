"""What a tool failure tells the model, what a failed run keeps, and the limits on tool output."""

import json

import anyio
import pytest

from agentkit import (
    Agent,
    Completion,
    CompletionDone,
    MaxTurnsExceeded,
    ModelError,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    tool,
)
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import (
    BreaksAfterText,
    collect,
    get_current_temperature,
    qw_call,
    run_in,
)


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
        """Return something JSON cannot encode: sent as its str, not an error."""
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
        finished = {e.call.id: e for e in events if isinstance(e, ToolCallFinished)}
        started = [e.call.id for e in events if isinstance(e, ToolCallStarted)]
        assert sorted(started) == sorted(finished) and len(started) == 7
        tool_msgs = {m["tool_call_id"]: m["content"] for m in result.messages if m["role"] == "tool"}
        assert {i: e.content for i, e in finished.items()} == tool_msgs  # the events say what the model got
        errors = [finished[i].error for i in tool_msgs]
        assert errors[0] == "ValueError: the sensor is offline"
        assert errors[2].startswith("Invalid arguments for boom:")  # a ToolError's own message
        assert errors[5] is None  # a long result is cut, not an error
        assert errors[4] is None  # a result JSON cannot encode is sent as its str
        assert sum(e is not None for e in errors) == 5
    else:
        result = await agent.run("go")
    check_transcript(result.messages)
    stand_in = result.messages[1]["tool_calls"][6]  # the unreadable block, kept as a call so it can be answered
    assert stand_in["function"] == {"name": "invalid_tool_call", "arguments": "{}"}
    contents = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert "ValueError: the sensor is offline" in contents[0]
    assert "no tool named 'nope'" in contents[1] and "boom, hang, weird, huge" in contents[1]
    assert 'x: "one" is not of type "integer"' in contents[2]
    assert "timed out after 0.2 s" in contents[3]
    assert contents[4].startswith("<object object at 0x")
    assert contents[5].startswith("x" * 100) and contents[5].endswith("[... truncated 400 characters]")
    assert "could not be read" in contents[6] and "not valid JSON" in contents[6]
    assert result.output == "sorry"
    # The model saw every error on its next turn.
    assert [m["role"] for m in model.calls[1].messages].count("tool") == 7


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
async def test_documented_defaults_max_turns_20_and_max_tool_output_100_000():
    @tool
    def exactly(n: int) -> str:
        """Return n characters."""
        return "z" * n

    model = ScriptedModel([qw_call("exactly", n=100_000) + qw_call("exactly", n=100_001), "ok"])
    result = await Agent(model, [exactly]).run("go")
    first, second = (m["content"] for m in result.messages if m["role"] == "tool")
    assert first == "z" * 100_000  # at the limit: whole
    assert second == "z" * 100_000 + "\n[... truncated 1 characters]"
    model = ScriptedModel(lambda messages: qw_call("get_current_temperature", location="Oslo"))
    with pytest.raises(MaxTurnsExceeded):
        await Agent(model, [get_current_temperature]).run("loop")
    assert len(model.calls) == 20


@pytest.mark.anyio
async def test_an_unknown_tool_when_there_are_none():
    model = ScriptedModel([qw_call("search", q="x"), "ok"])
    result = await Agent(model).run("go")
    assert result.messages[2]["content"] == "Error: there is no tool named 'search'. Available tools: none."
    assert model.calls[0].tools == []


@pytest.mark.anyio
async def test_results_of_every_documented_kind_become_json():
    import datetime
    import enum
    import uuid

    import pydantic

    class Unit(enum.Enum):
        C = "celsius"

    class Reading(pydantic.BaseModel):
        at: datetime.datetime
        unit: Unit
        station: uuid.UUID  # only pydantic's JSON mode turns this into a string

    @tool
    def read() -> dict:
        """Read."""
        return {
            "model": Reading(at=datetime.datetime(2024, 11, 14, 9, 30), unit=Unit.C, station=uuid.UUID(int=7)),
            "day": datetime.date(2024, 11, 14),
            "unit": Unit.C,
            "pair": (1, 2),
            "tags": {"x"},
        }

    result = await Agent(ScriptedModel([qw_call("read"), "ok"]), [read]).run("go")
    assert json.loads(result.messages[2]["content"]) == {
        "model": {"at": "2024-11-14T09:30:00", "unit": "celsius", "station": str(uuid.UUID(int=7))},
        "day": "2024-11-14",
        "unit": "celsius",
        "pair": [1, 2],
        "tags": ["x"],
    }


@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [False, True])
async def test_model_error_carries_a_valid_transcript(streaming):
    model = ScriptedModel([qw_call("get_current_temperature", location="Oslo"), RuntimeError("server down")])
    agent = Agent(model, [get_current_temperature])
    with pytest.raises(ModelError, match=r"^the model failed: RuntimeError: server down$") as info:
        if streaming:
            await collect(agent, "go")
        else:
            await agent.run("go")
    check_transcript(info.value.messages)
    assert [m["role"] for m in info.value.messages] == ["user", "assistant", "tool"]


@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [False, True])
async def test_a_backends_own_model_error_gets_the_transcript(streaming):
    own = ModelError("HTTP 503: overloaded", status=503)
    model = ScriptedModel([qw_call("get_current_temperature", location="Oslo"), own])
    with pytest.raises(ModelError) as info:
        await run_in("stream" if streaming else "run", Agent(model, [get_current_temperature]), "go")
    assert info.value is own and info.value.status == 503  # passed through, not wrapped
    check_transcript(info.value.messages)
    assert [m["role"] for m in info.value.messages] == ["user", "assistant", "tool"]


@pytest.mark.anyio
async def test_max_turns():
    model = ScriptedModel(lambda messages: qw_call("get_current_temperature", location="Oslo"))
    agent = Agent(model, [get_current_temperature], max_turns=3)
    with pytest.raises(MaxTurnsExceeded, match=r"^no final answer after 3 model calls$") as info:
        await agent.run("loop forever")
    check_transcript(info.value.messages)
    assert len(model.calls) == 3
    assert [m["role"] for m in info.value.messages].count("tool") == 3


@pytest.mark.anyio
async def test_a_stream_that_ends_without_a_completion_is_a_model_error():
    class NoEnd:
        async def complete(self, *args, **kwargs):
            raise NotImplementedError

        async def stream(self, messages, **kwargs):
            yield TextDelta("half an answer")

    with pytest.raises(ModelError, match=r"^the model's stream ended without a completion$") as info:
        await collect(Agent(NoEnd()), "go")
    assert info.value.messages == [{"role": "user", "content": "go"}]


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


@pytest.mark.anyio
async def test_a_failed_stream_keeps_the_reasoning_that_led_to_the_calls():
    text = "<think>Bob asked twice.</think>" + qw_call("get_current_temperature", location="Oslo")
    with pytest.raises(ModelError) as info:
        await collect(Agent(BreaksAfterText(text), [get_current_temperature]), "go")
    assistant = info.value.messages[1]
    assert assistant["reasoning_content"] == "Bob asked twice."
    assert assistant["content"] == ""
    check_transcript(info.value.messages)


@pytest.mark.anyio
async def test_a_model_stream_that_is_a_plain_async_iterator():
    # The Model protocol promises an AsyncIterator, not an async generator: no aclose needed.
    class Events:
        def __init__(self) -> None:
            self.left = [TextDelta("hi"), CompletionDone(completion=Completion(content="hi"))]

        def __aiter__(self):
            return self

        async def __anext__(self):
            if not self.left:
                raise StopAsyncIteration
            return self.left.pop(0)

    class Plain:
        async def complete(self, *args, **kwargs):
            raise NotImplementedError

        def stream(self, messages, **kwargs):
            return Events()

    events = await collect(Agent(Plain()), "go")
    assert events[-1].result.output == "hi"


@pytest.mark.anyio
async def test_a_call_that_ran_is_kept_even_if_the_final_message_drops_it():
    # A backend whose final Completion forgets a call it announced (ToolCallReady): the call
    # ran, so the transcript must show it, answered once, and it must not run twice.
    ran: list[str] = []

    @tool
    def charge(amount: int) -> str:
        """Charge a card."""
        ran.append(str(amount))
        return "charged"

    class Forgetful:
        async def complete(self, *args, **kwargs):
            raise NotImplementedError

        async def stream(self, messages, **kwargs):
            from agentkit.formats import get_format

            if messages[-1]["role"] == "tool":
                yield CompletionDone(completion=Completion(content="done"))
                return
            parser = get_format("qwen3").stream_parser()
            for event in [*parser.feed(qw_call("charge", amount=5)), *parser.close()]:
                yield event
            yield CompletionDone(completion=Completion(content=""))  # the call is missing here

    events = await collect(Agent(Forgetful(), [charge]), "pay")
    result = events[-1].result
    check_transcript(result.messages)
    assert ran == ["5"]
    assert [c["function"]["name"] for c in result.messages[1]["tool_calls"]] == ["charge"]
    assert result.messages[2]["content"] == "charged"
