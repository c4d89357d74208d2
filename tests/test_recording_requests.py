"""record=True when what is sent is not the transcript: a capability or a handoff changing `request.messages`.

The recorded model is fed, at each call after the first, its own sequence and then the messages
that follow its last response in the request. `CharRecorder`'s "tokens" are characters, so what
was fed between two calls can be read back as text.
"""

from agentkit import Agent, Capability, UserError, tool
from tests.test_recording import CharRecorder, qw_call


@tool
def weather(city: str) -> str:
    """Weather.

    Args:
        city: where
    """
    return f"SUNNY-{city}"


def fed(trajectory, call: int) -> str:
    """The text fed (mask 0) just before model call `call` (1 = the second call)."""
    start = trajectory.turn_starts[call - 1]
    end = trajectory.turn_starts[call]
    ids = trajectory.response_ids[start:end]
    mask = trajectory.response_mask[start:end]
    return "".join(chr(i) for i, m in zip(ids, mask, strict=True) if not m)


class Reminder(Capability):
    """Adds a reminder to what is sent, not to the transcript."""

    async def before_request(self, run, request):
        request.messages.append({"role": "user", "content": "REMIND"})


class DropOldest(Capability):
    """Sends the transcript without its oldest message after the system prompt."""

    async def before_request(self, run, request):
        if len(request.messages) > 2:
            del request.messages[1]


class DropResponse(Capability):
    """Sends the transcript without the model's own messages."""

    async def before_request(self, run, request):
        request.messages[:] = [m for m in request.messages if m.get("role") != "assistant"]


def test_a_capability_adding_a_message_per_request_still_feeds_the_tool_result():
    model = CharRecorder([qw_call("weather", {"city": "Oslo"}), "done"])
    result = Agent(model, [weather], system="S", capabilities=[Reminder()]).run_sync("hi", record=True)
    t = result.trajectory
    assert fed(t, 1) == "<tool>SUNNY-Oslo<user>REMIND"  # the answer, then this request's reminder
    assert t.prompt_ids == [ord(c) for c in "<system>S<user>hi<user>REMIND"]
    assert sum(t.response_mask) == result.usage.completion_tokens


def test_a_capability_dropping_an_earlier_message_still_feeds_each_tool_result():
    model = CharRecorder([qw_call("weather", {"city": "Oslo"}), qw_call("weather", {"city": "Rome"}), "done"])
    result = Agent(model, [weather], system="S", capabilities=[DropOldest()]).run_sync("hi", record=True)
    t = result.trajectory
    assert [fed(t, 1), fed(t, 2)] == ["<tool>SUNNY-Oslo", "<tool>SUNNY-Rome"]


def test_a_capability_removing_the_models_last_response_from_the_request_is_a_user_error():
    model = CharRecorder([qw_call("weather", {"city": "Oslo"}), "done"])
    agent = Agent(model, [weather], capabilities=[DropResponse()])
    try:
        agent.run_sync("hi", record=True)
    except UserError as e:
        assert "the model's last response" in str(e)
    else:
        raise AssertionError("no UserError")
    assert len(model.calls) == 1


def test_a_handoff_to_an_agent_with_a_system_prompt_feeds_the_transfers_answer_once():
    model = CharRecorder([qw_call("transfer_to_b"), "done"])
    b = Agent(model, name="b", system="I am b.")
    a = Agent(model, name="a", handoffs=[b])
    result = a.run_sync("hi", record=True)
    t = result.trajectory
    text = fed(t, 1)
    assert text.startswith("<tool>Transferred to b") and text.count("<") == 1  # the answer, not the call again
    assert "I am b." not in text
    assert model.calls[1].messages[0] == {"role": "system", "content": "I am b."}  # what is sent still changes


def test_a_handoff_from_an_agent_with_a_system_prompt_to_one_without_feeds_the_transfers_answer():
    model = CharRecorder([qw_call("transfer_to_b"), "done"])
    b = Agent(model, name="b")
    a = Agent(model, name="a", system="I am a.", handoffs=[b])
    result = a.run_sync("hi", record=True)
    text = fed(result.trajectory, 1)
    assert text.startswith("<tool>Transferred to b") and text.count("<") == 1
