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


class Copies(Capability):
    """Sends copies of the messages (a capability that rewrites each one)."""

    async def before_request(self, run, request):
        request.messages[:] = [dict(m) for m in request.messages]


def test_a_capability_sending_copies_of_the_messages_still_feeds_each_tool_result():
    model = CharRecorder([qw_call("weather", {"city": "Oslo"}), qw_call("weather", {"city": "Rome"}), "done"])
    result = Agent(model, [weather], capabilities=[Copies()]).run_sync("hi", record=True)
    assert [fed(result.trajectory, 1), fed(result.trajectory, 2)] == ["<tool>SUNNY-Oslo", "<tool>SUNNY-Rome"]


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


# --- a recorded run that fails keeps its tokens -------------------------------------------------------


def loops(messages, *a, **k):
    return qw_call("weather", {"city": "Oslo"})  # never answers


def test_a_recorded_run_stopped_by_max_turns_keeps_its_trajectory_on_the_error():
    from agentkit import MaxTurnsExceeded

    model = CharRecorder(loops)
    try:
        Agent(model, [weather], max_turns=3).run_sync("q", record=True)
    except MaxTurnsExceeded as e:
        t = e.trajectory
    else:
        raise AssertionError("no MaxTurnsExceeded")
    assert len(t.turn_starts) == 3 and t.finish_reasons == ["tool_calls"] * 3
    assert sum(t.response_mask) == 3 * len("weather")  # CharRecorder's "tokens" of a call: its name
    assert len(t.response_ids) == len(t.response_mask) == len(t.response_logprobs)


def test_a_recorded_run_stopped_by_a_capability_error_keeps_its_trajectory():
    class Stop(Capability):
        async def before_request(self, run, request):
            if run.turn == 1:
                raise UserError("stop here")

    model = CharRecorder(loops)
    try:
        Agent(model, [weather], capabilities=[Stop()]).run_sync("q", record=True)
    except UserError as e:
        assert len(e.trajectory.turn_starts) == 1
    else:
        raise AssertionError("no UserError")


def test_an_unrecorded_run_that_fails_carries_no_trajectory():
    from agentkit import MaxTurnsExceeded

    try:
        Agent(CharRecorder(loops), [weather], max_turns=2).run_sync("q")
    except MaxTurnsExceeded as e:
        assert e.trajectory is None


def test_run_many_keeps_the_trajectory_and_transcript_of_a_failed_recorded_run(tmp_path):
    import anyio

    from agentkit.batch import run_many

    out = tmp_path / "runs.jsonl"
    agent = Agent(CharRecorder(loops), [weather], max_turns=2)
    results = anyio.run(lambda: run_many(agent, ["q"], record=True, output=out, progress=False))
    r = results[0]
    assert r.error.startswith("MaxTurnsExceeded") and len(r.trajectory.turn_starts) == 2
    assert [m["role"] for m in r.messages] == ["user", "assistant", "tool", "assistant", "tool"]
    from agentkit.trajectories import read_runs

    back = read_runs(out)[0]
    assert back.trajectory.response_ids == r.trajectory.response_ids and back.error == r.error


# --- a handoff's tools ------------------------------------------------------------------------------


@tool
def forecast(city: str) -> str:
    """Forecast.

    Args:
        city: where
    """
    return "RAIN"


def test_a_handoff_to_an_agent_with_tools_the_first_prompt_never_showed_is_refused_before_its_call():
    model = CharRecorder([qw_call("transfer_to_b"), "done"])
    b = Agent(model, [forecast], name="b")
    a = Agent(model, [weather], name="a", handoffs=[b])
    try:
        a.run_sync("hi", record=True)
    except UserError as e:
        assert "forecast" in str(e) and "first prompt" in str(e)
        assert len(e.trajectory.turn_starts) == 1
    else:
        raise AssertionError("no UserError")
    assert len(model.calls) == 1


def test_a_handoff_to_an_agent_whose_tools_the_first_prompt_showed_is_recorded():
    model = CharRecorder([qw_call("transfer_to_b"), qw_call("weather", {"city": "Oslo"}), "done"])
    b = Agent(model, [weather], name="b")
    a = Agent(model, [weather], name="a", handoffs=[b])
    result = a.run_sync("hi", record=True)
    assert result.agent == "b" and len(result.trajectory.turn_starts) == 3
    assert fed(result.trajectory, 2) == "<tool>SUNNY-Oslo"


def test_a_reminder_capability_on_a_real_tiny_model_feeds_the_tool_answer_and_the_reminder(tmp_path):
    import pytest

    pytest.importorskip("torch")
    from tests.test_recording import Spy, looping_agent, tiny
    from tools.build_test_models import build_tiny

    model = tiny(build_tiny("qwen3", tmp_path / "qwen3"), batching=False)
    spy = Spy(model)
    result = looping_agent(spy, capabilities=[Reminder()]).run_sync("hi", record=True)
    t = result.trajectory
    for prompt, start in zip(spy.prompts, t.turn_starts, strict=True):
        assert prompt == t.prompt_ids + t.response_ids[:start]
    for call in range(1, result.turns):
        start, end = t.turn_starts[call - 1], t.turn_starts[call]
        fed_ids = [i for i, m in zip(t.response_ids[start:end], t.response_mask[start:end], strict=True) if not m]
        text = model.tokenizer.decode(fed_ids)
        assert "<tool_response>" in text and text.count("REMIND") == 1, text
