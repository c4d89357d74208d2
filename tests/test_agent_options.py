"""Agent options per run, unknown keywords, and the approval hook (its verdicts, bound, failure)."""

import contextlib
import json
import threading

import anyio
import pytest

from agentkit import (
    Agent,
    ApprovalError,
    Completion,
    MaxTurnsExceeded,
    ModelError,
    ToolCall,
    ToolCallFinished,
    TurnFinished,
    UserError,
    tool,
)
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import (
    QUESTION,
    collect,
    get_current_temperature,
    qw_call,
    run_in,
    weather_agent,
)


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
async def test_the_unknown_keyword_message_names_everything_accepted():
    agent, _ = weather_agent()
    with pytest.raises(UserError) as info:
        await agent.run(QUESTION, top_q=1, temprature=0.5)
    assert str(info.value) == (
        "unknown option 'temprature', 'top_q': an Agent takes system, thinking, tool_choice, max_turns, "
        "tool_timeout, approve, approval_timeout, max_tool_output, output_type, output_mode, output_retries, "
        "usage_limits, deps_type, history, capabilities, parallel_tools, deps, approvals, session, record; ScriptedModel takes max_tokens, min_p, temperature, top_k, top_p"
    )

    class Mine:  # no `options`: anything goes to it, but the run's tools and messages are the Agent's
        async def complete(self, messages, **kwargs):
            raise AssertionError("not called")

        stream = complete

    for reserved in ("tools", "messages"):
        with pytest.raises(UserError) as info:
            await Agent(Mine()).run("x", **{reserved: []})
        assert str(info.value).startswith(f"unknown option {reserved!r}: an Agent takes system, ")
        assert str(info.value).endswith("; Mine takes any other keyword")


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
    assert contents == ["deleted /tmp/a", "Error: this call was not run: the approval check failed.", "deleted /tmp/b"]
    failed_id = error.messages[1]["tool_calls"][1]["id"]
    assert str(error) == (
        f"the approval hook failed on call {failed_id} (delete): LookupError: policy database unreachable"
    )


@pytest.mark.anyio
async def test_a_hook_that_raises_is_logged_at_info(caplog):
    def broken(call: ToolCall) -> bool:
        raise OSError("disk")

    model = ScriptedModel([qw_call("get_current_temperature", location="Oslo")])
    with caplog.at_level("INFO", logger="agentkit"), pytest.raises(ApprovalError) as info:
        await Agent(model, [get_current_temperature], approve=broken).run("go")
    call_id = info.value.messages[1]["tool_calls"][0]["id"]
    assert f"the approval hook raised OSError on call {call_id}" in [r.getMessage() for r in caplog.records]


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


@pytest.mark.anyio
async def test_every_verdict_but_true_denies_and_events_say_why():
    verdicts = iter([False, "", 1, "too far"])

    def approve(call: ToolCall):
        return next(verdicts)

    calls = "".join(qw_call("get_current_temperature", location=c) for c in ("A", "B", "C", "D"))
    model = ScriptedModel([calls, "ok"])
    events = await collect(Agent(model, [get_current_temperature], approve=approve, max_tool_output=None), "go")
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    reasons = sorted(e.error for e in finished)
    assert reasons == ["not approved: denied"] * 3 + ["not approved: too far"]
    contents = sorted(e.content for e in finished)
    assert contents[0] == "Error: the user did not allow this tool call (denied)."


@pytest.mark.anyio
async def test_approval_timeout_and_hook_failure_are_told_in_events():
    async def slow(call: ToolCall) -> bool:
        await anyio.sleep(60)
        return True

    model = ScriptedModel([qw_call("get_current_temperature", location="Oslo"), "ok"])
    events = await collect(Agent(model, [get_current_temperature], approve=slow, approval_timeout=0.05), "go")
    (done,) = [e for e in events if isinstance(e, ToolCallFinished)]
    assert done.error == "not approved in time (0.05 s)"
    assert done.content == "Error: this call was not run: it was not approved in time (0.05 s)."

    def broken(call: ToolCall) -> bool:
        raise OSError("disk")

    model = ScriptedModel([qw_call("get_current_temperature", location="Oslo")])
    seen: list = []
    with pytest.raises(ApprovalError):
        async with contextlib.aclosing(Agent(model, [get_current_temperature], approve=broken).stream("go")) as evs:
            async for event in evs:
                seen.append(event)
    (done,) = [e for e in seen if isinstance(e, ToolCallFinished)]
    assert done.error == "approval hook failed"
    assert not any(isinstance(e, TurnFinished) for e in seen)


@pytest.mark.anyio
async def test_approval_timeout_inf_lets_a_slow_human_answer_while_tools_stay_bounded():
    import math

    answered = anyio.Event()

    async def human(call: ToolCall) -> bool:
        with anyio.fail_after(5):
            await answered.wait()  # longer than tool_timeout
        return True

    async def answer_later() -> None:
        await anyio.sleep(0.3)
        answered.set()

    model = ScriptedModel([qw_call("get_current_temperature", location="Oslo"), "ok"])
    agent = Agent(model, [get_current_temperature], approve=human, approval_timeout=math.inf, tool_timeout=0.1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(answer_later)
        result = await agent.run("go")
    assert json.loads(result.messages[2]["content"])["location"] == "Oslo"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_agent_options_per_run_never_reach_a_servers_request_body(mode):
    from agentkit import RemoteModel
    from tests.scripted_server import Reply, ScriptedServer, call, chunk, completion

    asked: list[str] = []

    def approve(call_: ToolCall) -> bool:
        asked.append(call_.name)
        return True

    with ScriptedServer(owned_by="vllm") as srv:
        first = call("get_current_temperature", {"location": "Oslo"})
        if mode == "stream":
            srv.script(Reply(chunks=[chunk({"tool_calls": [first]})]), Reply(chunks=[chunk({"content": "3 °C"})]))
        else:
            srv.script(Reply(body=completion("", tool_calls=[first], finish="tool_calls")), Reply(body=completion("3 °C")))
        agent = Agent(RemoteModel(srv.url), [get_current_temperature])
        overrides = {"system": "per run", "approve": approve, "max_tool_output": 10, "tool_timeout": 5,
                     "approval_timeout": 5, "max_turns": 3, "max_tokens": 64}  # fmt: skip
        result = await run_in(mode, agent, "Oslo?", **overrides)
    assert result.output == "3 °C"
    assert asked == ["get_current_temperature"]
    tool_msg = result.messages[3]["content"]
    assert tool_msg.startswith('{"temperat') and tool_msg.endswith(" characters]")
    for body in srv.requests:
        assert body["messages"][0] == {"role": "system", "content": "per run"}
        assert not set(body) & {"system", "approve", "max_tool_output", "tool_timeout", "approval_timeout", "max_turns"}
        assert body["max_tokens"] == 64


def test_the_agent_options_are_declared_once_in_agreement():
    # Three lists name the options (the run-time tuple, the typed overloads' TypedDict, the
    # constructor): they must not drift apart.
    import inspect

    from agentkit._options import AGENT_IDENTITY, AGENT_OPTIONS, AgentKeywords

    keyword_only = [n for n, p in inspect.signature(Agent.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY]
    assert keyword_only == [*AGENT_OPTIONS, *AGENT_IDENTITY]
    assert set(AgentKeywords.__annotations__) == set(AGENT_OPTIONS + AGENT_IDENTITY) - {"output_type"}


@pytest.mark.parametrize("keyword", ["name", "description", "handoffs"])
def test_who_an_agent_is_is_not_a_run_option(keyword):
    agent = Agent(ScriptedModel(["hi"]))
    with pytest.raises(UserError, match=keyword):
        agent.run_sync("hi", **{keyword: "x"})
