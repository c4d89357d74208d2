"""`Capability`: a user's own run capability takes part in a run at each point, in order.

These fail before the seam existed (issue 23): `agentkit.Capability` did not exist and `Agent`
took no `capabilities=`.
"""

import pytest

from agentkit import (
    Agent,
    CallAnswer,
    Capability,
    CapabilityError,
    Final,
    ModelError,
    ModelRequest,
    ModelResponse,
    RunState,
    ToolCallFinished,
    TurnEnd,
    UserError,
    _capability,
    tool,
)
from agentkit.sessions import MemorySession
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import collect, qw_call, run_in

MODES = ["run", "stream"]
RAN: list[str] = []


@tool
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: Which file.
    """
    RAN.append(path)
    return f"deleted {path}"


@pytest.fixture(autouse=True)
def _clear():
    RAN.clear()


class Recorder(Capability):
    """Writes down every point it is called at, with what it saw."""

    early_dispatch = True  # it only observes

    def __init__(self, log: list) -> None:
        self.log = log

    async def run_started(self, run):
        self.log.append(("run_started", len(run.messages)))

    async def before_request(self, run, request):
        self.log.append(("before_request", run.turn))

    async def after_response(self, run, response):
        self.log.append(("after_response", [c.name for c in response.calls]))

    async def before_call(self, run, call, tool):
        self.log.append(("before_call", call.name, tool is not None))

    async def after_call(self, run, call, answer):
        self.log.append(("after_call", call.name, answer.content))

    async def after_turn(self, run, turn):
        self.log.append(("after_turn", sorted(m["content"] for m in turn.answers.values())))

    async def run_finished(self, run, result):
        self.log.append(("run_finished", result.output))

    async def run_failed(self, run, error):
        self.log.append(("run_failed", type(error).__name__))


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_capability_hears_every_point_of_a_run_in_order(mode):
    log: list = []
    model = ScriptedModel([qw_call("delete_file", path="a.txt"), "Done."])
    result = await run_in(mode, Agent(model, [delete_file], capabilities=[Recorder(log)]), "delete a.txt")
    assert result.output == "Done."
    call = [("before_call", "delete_file", True), ("after_call", "delete_file", "deleted a.txt")]
    response = [("after_response", ["delete_file"])]
    # Streamed, the call starts as soon as it is complete: before the response is (early dispatch).
    assert log == [
        ("run_started", 1),
        ("before_request", 0),
        *(call + response if mode == "stream" else response + call),
        ("after_turn", ["deleted a.txt"]),
        ("before_request", 1),
        ("after_response", []),
        ("after_turn", []),
        ("run_finished", "Done."),
    ]


class Guardrail(Capability):
    """Answers every call to a path outside /tmp itself: the tool never runs."""

    async def before_call(self, run, call, tool):
        if tool is not None and '"/tmp/' not in call.arguments:
            return CallAnswer(content="Error: only files under /tmp may be deleted.", error="blocked")
        return None


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_guardrail_answers_a_call_instead_of_its_tool(mode):
    model = ScriptedModel([qw_call("delete_file", path="/etc/passwd") + qw_call("delete_file", path="/tmp/x"), "ok"])
    agent = Agent(model, [delete_file], capabilities=[Guardrail()])
    events = await collect(agent, "clean up") if mode == "stream" else []
    result = events[-1].result if events else await agent.run("clean up")
    assert RAN == ["/tmp/x"]
    tool_messages = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert tool_messages == ["Error: only files under /tmp may be deleted.", "deleted /tmp/x"]
    check_transcript(result.messages)
    if mode == "stream":
        finished = [e for e in events if isinstance(e, ToolCallFinished)]
        assert sorted((e.error or "") for e in finished) == ["", "blocked"]


@pytest.mark.anyio
async def test_a_guardrail_call_uses_none_of_the_tool_call_budget():
    from agentkit import UsageLimits

    model = ScriptedModel([qw_call("delete_file", path="/etc/a") + qw_call("delete_file", path="/tmp/b"), "ok"])
    agent = Agent(model, [delete_file], capabilities=[Guardrail()], usage_limits=UsageLimits(max_tool_calls=1))
    result = await agent.run("go")
    assert RAN == ["/tmp/b"] and result.usage.tool_calls == 1


class CostMeter(Capability):
    """Per-run state through `for_run`: each run counts its own tokens."""

    def __init__(self, totals: list) -> None:
        self.totals = totals
        self.tokens = 0

    def for_run(self, run):
        return CostMeter(self.totals)

    async def after_response(self, run, response):
        if response.completion is not None:
            self.tokens += response.completion.usage.total_tokens

    async def run_finished(self, run, result):
        self.totals.append(self.tokens)


@pytest.mark.anyio
async def test_for_run_gives_each_concurrent_run_its_own_state():
    import anyio

    totals: list = []
    meter = CostMeter(totals)
    agent = Agent(ScriptedModel(lambda messages: "hi"), capabilities=[meter])
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(agent.run, "hello")
    assert len(totals) == 5 and len(set(totals)) == 1 and totals[0] > 0
    assert meter.tokens == 0  # the agent's object kept no run's state


class Redact(Capability):
    """Changes what is sent, not the transcript."""

    async def before_request(self, run, request: ModelRequest):
        request.messages = [{**m, "content": m["content"].replace("hunter2", "[secret]")} for m in request.messages]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_before_request_changes_what_is_sent_and_not_the_transcript(mode):
    model = ScriptedModel(["ok"])
    result = await run_in(mode, Agent(model, capabilities=[Redact()]), "my password is hunter2")
    assert model.calls[0].messages[-1]["content"] == "my password is [secret]"
    assert result.messages[0]["content"] == "my password is hunter2"


class HoldDeletes(Capability):
    """Stops the run before any call of a message that deletes, as an approval would."""

    async def run_started(self, run):
        run.early = False  # it must see the whole message before any of its calls runs

    async def after_response(self, run, response: ModelResponse):
        response.pending = [c for c in response.calls if c.name == "delete_file"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_after_response_can_stop_the_run_for_a_decision(mode):
    model = ScriptedModel([qw_call("delete_file", path="a")])
    result = await run_in(mode, Agent(model, [delete_file], capabilities=[HoldDeletes()]), "go")
    assert RAN == [] and [c.name for c in result.pending] == ["delete_file"] and result.output is None
    check_transcript(result.messages, pending=True)


class FirstWordWins(Capability):
    """Ends the run with an output of its own."""

    async def after_turn(self, run, turn: TurnEnd):
        completion = turn.response.completion
        return Final(output=completion.content.split()[0]) if completion and completion.content else None


@pytest.mark.anyio
async def test_after_turn_can_end_the_run_with_an_output():
    model = ScriptedModel([qw_call("delete_file", path="a").replace("<tool_call>", "Working <tool_call>"), "never"])
    result = await Agent(model, [delete_file], capabilities=[FirstWordWins()]).run("go")
    assert result.output == "Working" and len(model.calls) == 1 and RAN == ["a"]
    check_transcript(result.messages)


class Broken(Capability):
    async def before_call(self, run, call, tool):
        raise RuntimeError("the guardrail's database is down")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_failing_before_call_runs_nothing_answers_every_call_and_fails_the_run(mode):
    log: list = []
    model = ScriptedModel([qw_call("delete_file", path="a") + qw_call("delete_file", path="b"), "never"])
    agent = Agent(model, [delete_file], capabilities=[Broken(), Recorder(log)])
    with pytest.raises(CapabilityError, match="database is down") as info:
        await run_in(mode, agent, "go")
    assert RAN == [] and len(model.calls) == 1 and isinstance(info.value.__cause__, RuntimeError)
    assert log[-1] == ("run_failed", "CapabilityError")
    # Every capability heard of both calls (attacker review #13), and the transcript answers them.
    assert [entry[1] for entry in log if entry[0] == "after_call"] == ["delete_file", "delete_file"]
    check_transcript(info.value.messages)
    assert [m["content"] for m in info.value.messages if m["role"] == "tool"] == [
        "Error: this call was not run: RuntimeError."] * 2  # fmt: skip


class Replace(Capability):
    async def run_failed(self, run, error):
        raise UserError(f"replaced {type(error).__name__}")


@pytest.mark.anyio
async def test_run_failed_hears_the_failure_and_may_replace_it():
    log: list = []
    agent = Agent(ScriptedModel([RuntimeError("boom")]), capabilities=[Recorder(log), Replace()])
    with pytest.raises(UserError, match="replaced ModelError") as info:
        await agent.run("go")
    assert isinstance(info.value.__context__, ModelError)
    assert log[-1] == ("run_failed", "ModelError")


@pytest.mark.anyio
async def test_capabilities_can_be_given_per_run_and_are_checked():
    log: list = []
    agent = Agent(ScriptedModel(["a", "b"]))
    await agent.run("one")
    await agent.run("two", capabilities=[Recorder(log)])
    assert [p for p, *_ in log] == ["run_started", "before_request", "after_response", "after_turn", "run_finished"]
    with pytest.raises(UserError, match=r"agentkit\.Capability"):
        await Agent(ScriptedModel(["a"]), capabilities="not a list").run("go")
    with pytest.raises(UserError, match="Capability"):
        await agent.run("three", capabilities=[object()])
    with pytest.raises(UserError, match="list"):
        agent.stream("three", capabilities=Recorder(log))


def test_a_point_nobody_overrides_is_never_called():
    class OnlyCalls(Capability):
        async def after_call(self, run, call, answer):
            pass

    hooks = _capability.Hooks([OnlyCalls(), Recorder([])])
    assert len(hooks.after_call) == 2 and len(hooks.before_request) == 1 and len(hooks.all) == 2
    assert _capability.Hooks([Capability()]).before_call == []


def test_the_points_after_a_call_unwind_in_reverse_order():
    a, b = Recorder([]), Recorder([])
    hooks = _capability.Hooks([a, b])
    assert hooks.before_call == [a, b] and hooks.after_call == [b, a]
    assert hooks.before_request == [a, b] and hooks.after_response == [b, a]
    assert hooks.run_started == [a, b] and hooks.run_failed == [a, b] and hooks.after_turn == [a, b]


@pytest.mark.anyio
async def test_a_capability_sees_the_session_history_and_the_run_stores_its_messages():
    session = MemorySession()
    seen: list = []

    class Look(Capability):
        async def run_started(self, run: RunState):
            seen.append([m["content"] for m in run.messages])

    agent = Agent(ScriptedModel(["first", "second"]), capabilities=[Look()])
    await agent.run("one", session=session)
    await agent.run("two", session=session)
    assert seen == [["one"], ["one", "first", "two"]]
    assert [m["content"] for m in await session.get_messages()] == ["one", "first", "two", "second"]


class LateHold(Capability):
    """Sets `pending` though it says it only observes: a call may have run already."""

    early_dispatch = True

    async def after_response(self, run, response: ModelResponse):
        response.pending = list(response.calls)


@pytest.mark.anyio
async def test_a_call_that_started_early_is_never_pending_and_keeps_its_answer():
    model = ScriptedModel([qw_call("delete_file", path="a") + "Thinking on." * 20, "ok"])
    result = (await collect(Agent(model, [delete_file], capabilities=[LateHold()]), "go"))[-1].result
    assert RAN == ["a"] and result.pending == [] and result.output == "ok"
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    check_transcript(result.messages)


class BrokenAfter(Capability):
    async def after_call(self, run, call, answer):
        raise RuntimeError("the audit log is full")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_failing_after_call_keeps_the_answer_of_the_call_that_ran(mode):
    session = MemorySession()
    model = ScriptedModel([qw_call("delete_file", path="a"), "never"])
    with pytest.raises(CapabilityError, match="audit log") as info:
        await run_in(mode, Agent(model, [delete_file], capabilities=[BrokenAfter()]), "go", session=session)
    assert info.value.messages[-1]["content"] == "deleted a"
    stored = await session.get_messages()
    assert RAN == ["a"] and stored[-1]["content"] == "deleted a"  # the transcript records what ran
    check_transcript(stored)


@pytest.mark.anyio
async def test_a_runs_capabilities_are_added_to_the_agents_never_instead():
    # Attacker review #6: a per-run meter (or a batch line's "capabilities": []) dropped the guardrail.
    model = ScriptedModel([qw_call("delete_file", path="/data"), "ok"] * 2)
    agent = Agent(model, [delete_file], capabilities=[Guardrail()])
    await agent.run("go", capabilities=[CostMeter([])])
    await agent.run("go", capabilities=[])
    assert RAN == []


@pytest.mark.anyio
async def test_a_capability_that_sees_responses_holds_calls_until_it_has_seen_the_whole_message():
    # Attacker review #11: a pending guardrail held the call in run() but not in stream() (early dispatch).
    class Hold(Capability):  # no run.early = False
        async def after_response(self, run, response):
            response.pending = [c for c in response.calls if c.name == "delete_file"]

    model = ScriptedModel([qw_call("delete_file", path="/data") + "More text." * 20])
    result = (await collect(Agent(model, [delete_file], capabilities=[Hold()]), "go"))[-1].result
    assert RAN == [] and [c.name for c in result.pending] == ["delete_file"]

    class Observe(Capability):
        early_dispatch = True

        async def after_response(self, run, response):
            pass

    model = ScriptedModel([qw_call("delete_file", path="/tmp/x") + "More text." * 20, "ok"])
    events = await collect(Agent(model, [delete_file], capabilities=[Observe()]), "go")
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("ToolCallFinished") < kinds.index("TurnFinished") and RAN == ["/tmp/x"]
    assert kinds.index("ToolCallStarted") < max(i for i, k in enumerate(kinds) if k == "TextDelta")  # early


@pytest.mark.anyio
async def test_a_call_a_capability_held_needs_a_decision_to_resume():
    # Attacker review #3: it could not be denied, and ran on a resume without a decision.
    model = ScriptedModel([qw_call("delete_file", path="/etc/passwd"), "denied, fine", "ran", "done"])
    agent = Agent(model, [delete_file], capabilities=[HoldDeletes()])
    first = await agent.run("clean up")
    with pytest.raises(UserError, match="no decision"):
        await agent.run(first.messages)
    denied = await agent.run(first.messages, approvals={first.pending[0].id: False})
    assert RAN == [] and denied.output == "denied, fine"
    check_transcript(denied.messages)
    assert "did not allow" in denied.messages[2]["content"]
    # The mark that says which calls wait is agentkit's own: never sent to the model.
    assert all("agentkit_pending" not in m for call in model.calls for m in call.messages)
    approved = await agent.run(first.messages, approvals={first.pending[0].id: True})
    assert RAN == ["/etc/passwd"] and approved.output == "ran"


@pytest.mark.anyio
async def test_a_run_gets_its_own_tools_dict():
    class Hide(Capability):  # attacker review #10: this removed the tool from the agent itself
        async def run_started(self, run):
            run.tools.pop("delete_file")

    agent = Agent(ScriptedModel(["a", "b"]), [delete_file])
    await agent.run("go", capabilities=[Hide()])
    assert list(agent.tools) == ["delete_file"]
    await agent.run("go")
    assert agent.model.calls[1].tools == ["delete_file"] and agent.model.calls[0].tools == []


@pytest.mark.anyio
async def test_request_messages_are_a_copy_whatever_the_history():
    from agentkit.sessions import History

    class Remind(Capability):  # attacker review #14: this reached the transcript only without history=
        async def before_request(self, run, request):
            request.messages.append({"role": "user", "content": "(be brief)"})

    for history in (None, History(max_turns=1)):
        model = ScriptedModel(["a"])
        result = await Agent(model, capabilities=[Remind()], history=history).run("go")
        assert [m["content"] for m in result.messages] == ["go", "a"]
        assert model.calls[0].messages[-1]["content"] == "(be brief)"


@pytest.mark.anyio
async def test_replacing_run_messages_is_refused_with_a_session():
    class Replace(Capability):  # attacker review #2: the session stored a duplicate, or lost a call that ran
        async def run_started(self, run):
            run.messages = [*run.messages]

    with pytest.raises(UserError, match=r"replaced run\.messages"):
        await Agent(ScriptedModel(["a"]), capabilities=[Replace()]).run("go", session=MemorySession())


@pytest.mark.anyio
async def test_a_failing_request_failed_keeps_the_calls_that_ran_in_the_error():
    from tests.agent_helpers import BreaksAfterText

    class Loud(Capability):  # attacker review #7
        async def request_failed(self, run, error):
            raise ValueError("the alerting service is down")

    agent = Agent(BreaksAfterText(qw_call("delete_file", path="/tmp/a")), [delete_file], capabilities=[Loud()])
    with pytest.raises(CapabilityError) as info:
        await collect(agent, "go")
    assert RAN == ["/tmp/a"] and info.value.messages[-1]["content"] == "deleted /tmp/a"
    check_transcript(info.value.messages)


# --- from the mutation run of the seam's modules: each test kills a mutant that mattered -------


class Offers:
    """A toolset with the given tools, whose disconnect raises `close_error` when given."""

    def __init__(self, *tools, close_error: Exception | None = None) -> None:
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def tools_for_run():
            yield list(tools)
            if close_error is not None:
                raise close_error

        self.tools_for_run = tools_for_run


@pytest.mark.anyio
async def test_a_toolset_that_fails_to_disconnect_fails_the_run_with_its_own_error():
    log: list = []
    toolset = Offers(delete_file, close_error=ConnectionResetError("the server went away"))  # attacker review #9
    agent = Agent(ScriptedModel(["ok"]), [toolset], capabilities=[Recorder(log)])
    with pytest.raises(ConnectionResetError):
        await agent.run("go")
    assert log[-1] == ("run_failed", "ConnectionResetError")


@pytest.mark.anyio
async def test_a_call_left_behind_in_a_given_transcript_cannot_be_decided():
    transcript = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                                                              "function": {"name": "delete_file", "arguments": "{}"}}]},
        {"role": "assistant", "content": "moved on"},
        {"role": "user", "content": "and now?"},
    ]  # fmt: skip
    with pytest.raises(UserError, match="can no longer be decided"):
        await Agent(ScriptedModel(["ok"]), [delete_file]).run(transcript, approvals={"c1": True})


class Held(HoldDeletes):
    early_dispatch = False


@pytest.mark.anyio
async def test_a_stop_for_a_decision_keeps_the_reasoning_drops_malformed_blocks_and_tells_the_stream():
    text = "<think>I should delete it.</think>" + qw_call("delete_file", path="a") + "<tool_call>\n{broken\n</tool_call>"
    events = await collect(Agent(ScriptedModel([text]), [delete_file], capabilities=[Held()]), "go")
    result = events[-1].result
    assert result.reasoning == "I should delete it." and [c.name for c in result.pending] == ["delete_file"]
    assert [c["function"]["name"] for c in result.messages[-1]["tool_calls"]] == ["delete_file"]
    (turn,) = [e for e in events if type(e).__name__ == "TurnFinished"]
    assert turn.turn == 0 and turn.messages == result.messages and turn.completion.reasoning == "I should delete it."


@pytest.mark.anyio
async def test_turn_finished_carries_the_transcript_so_far():
    events = await collect(Agent(ScriptedModel([qw_call("delete_file", path="/tmp/a"), "ok"]), [delete_file]), "go")
    turns = [e for e in events if type(e).__name__ == "TurnFinished"]
    assert [t.turn for t in turns] == [0, 1]
    assert [m["role"] for m in turns[0].messages] == ["user", "assistant", "tool"]
    assert turns[1].messages == events[-1].result.messages


@pytest.mark.anyio
async def test_a_streamed_resume_tells_the_stream_about_the_calls_it_answers():
    model = ScriptedModel([qw_call("delete_file", path="a"), "ok"])
    agent = Agent(model, [delete_file], capabilities=[Held()])
    first = await agent.run("go")
    events = await collect(agent, first.messages, approvals={first.pending[0].id: True})
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [e.content for e in finished] == ["deleted a"] and RAN == ["a"]


class Watch(Capability):
    def __init__(self, log):
        self.log = log

    def for_run(self, run):  # stays out of runs without deps
        return self if run.options.deps is not None else None

    async def request_failed(self, run, error):
        self.log.append(("request_failed", run.turn, type(error).__name__))

    async def run_finished(self, run, result):
        self.log.append(("run_finished", run.usage.requests))


@pytest.mark.anyio
async def test_for_run_sees_the_run_and_request_failed_sees_the_error():
    log: list = []
    agent = Agent(ScriptedModel(["ok", RuntimeError("down")]), capabilities=[Watch(log)])
    await agent.run("go")  # no deps: Watch stays out
    with pytest.raises(ModelError):
        await agent.run("go", deps="x")
    assert log == [("request_failed", 0, "RuntimeError")]
    await Agent(ScriptedModel(["ok"]), capabilities=[Watch(log)]).run("go", deps="x")
    assert log[-1] == ("run_finished", 1)


@pytest.mark.anyio
async def test_a_failing_before_call_is_the_calls_error_in_the_stream():
    agent = Agent(ScriptedModel([qw_call("delete_file", path="a"), "x"]), [delete_file], capabilities=[Broken()])
    seen: list = []
    with pytest.raises(CapabilityError):
        async for event in agent.stream("go"):
            seen.append(event)
    (done,) = [e for e in seen if isinstance(e, ToolCallFinished)]
    assert done.error == "RuntimeError"


@pytest.mark.anyio
async def test_the_approve_hook_is_not_asked_about_a_tool_that_does_not_exist():
    asked: list = []
    agent = Agent(ScriptedModel([qw_call("nope", path="a"), "ok"]), [delete_file], approve=lambda c: asked.append(c) or True)
    result = await agent.run("go")
    assert asked == [] and "no tool named 'nope'" in result.messages[2]["content"]


@pytest.mark.anyio
async def test_approvals_hold_for_a_resumed_run_that_goes_on_for_several_model_calls():
    model = ScriptedModel([qw_call("delete_file", path="a"), qw_call("delete_file", path="b"), "done"])
    agent = Agent(model, [delete_file], capabilities=[Held()])
    first = await agent.run("go")
    second = await agent.run(first.messages, approvals={first.pending[0].id: True})
    assert RAN == ["a"] and [c.name for c in second.pending] == ["delete_file"]  # the second model call held b


@pytest.mark.anyio
async def test_typed_output_in_tool_mode_lets_tool_calls_come_first_and_counts_only_failures():
    from agentkit import OutputValidationError

    model = ScriptedModel([qw_call("delete_file", path="/tmp/a"), qw_call("delete_file", path="/tmp/b"),
                           qw_call("final_result", result=7)])  # fmt: skip
    agent = Agent(model, [delete_file], output_type=int, output_mode="tool", output_retries=0)
    assert (await agent.run("go")).output == 7
    with pytest.raises(OutputValidationError, match="after 0 retries"):
        await Agent(ScriptedModel(["7"]), [delete_file], output_type=int, output_mode="tool", output_retries=0).run("go")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["tool", "json"])
async def test_a_call_to_an_unknown_tool_is_not_a_typed_answer(mode):
    calls = qw_call("final_result", result=7) if mode == "json" else qw_call("nope", result=7)
    model = ScriptedModel([calls, qw_call("final_result", result=8) if mode == "tool" else '{"result": 8}'])
    result = await Agent(model, output_type=int, output_mode=mode).run("go")
    assert result.output == 8 and "no tool named" in next(m for m in result.messages if m["role"] == "tool")["content"]


@pytest.mark.anyio
async def test_the_default_output_retries_is_two():
    from agentkit import OutputValidationError

    model = ScriptedModel(["no", "no", "no", "never"])
    with pytest.raises(OutputValidationError):
        await Agent(model, output_type=int, output_mode="json").run("go")
    assert len(model.calls) == 3


def test_a_global_capability_is_added_and_removed_by_name():
    def factory(run):
        return None

    _capability.set_global("probe", factory)
    try:
        assert factory in _capability.global_capabilities()
    finally:
        _capability.set_global("probe", None)
    assert factory not in _capability.global_capabilities()
    _capability.set_global("probe", None)  # removing twice is fine


@pytest.mark.anyio
async def test_a_toolset_tool_named_final_result_is_refused_only_where_the_typed_output_needs_the_name():
    from agentkit import Tool

    final = Tool.from_schema("final_result", {"type": "object", "properties": {}}, lambda: "x")
    with pytest.raises(UserError, match="final_result"):
        await Agent(ScriptedModel(['{"result": 1}']), [Offers(final)], output_type=int, output_mode="tool").run("go")
    result = await Agent(ScriptedModel(['{"result": 1}']), [Offers(final)], output_type=int, output_mode="json").run("go")
    assert result.output == 1


@pytest.mark.anyio
async def test_an_invalid_final_result_is_the_calls_error_in_the_stream():
    model = ScriptedModel([qw_call("final_result", result="seven"), qw_call("final_result", result=7)])
    events = await collect(Agent(model, output_type=int, output_mode="tool"), "go")
    errors = [e.error for e in events if isinstance(e, ToolCallFinished)]
    assert errors[0].startswith("invalid output: ") and "seven" in errors[0] and errors[1] is None
    assert events[-1].result.output == 7
