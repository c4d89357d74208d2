"""Approvals that can wait: a run stops before calls that need a decision and resumes later."""

import json
import subprocess
import sys
import textwrap

import pytest

from agentkit import Agent, ToolCallStarted, UserError, tool
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import collect, qw_call, run_in

MODES = ["run", "stream"]
RAN: list[str] = []


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: Which file.
    """
    RAN.append(f"delete {path}")
    return f"deleted {path}"


@tool
def list_files() -> list[str]:
    """List the files."""
    RAN.append("list")
    return ["a.txt", "b.txt"]


@pytest.fixture(autouse=True)
def _clear():
    RAN.clear()


CALLS = qw_call("list_files") + qw_call("delete_file", path="a.txt") + qw_call("delete_file", path="b.txt")


def model(*script) -> ScriptedModel:
    return ScriptedModel(list(script), format="qwen3")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_the_run_stops_before_any_call_of_the_message_runs(mode):
    agent = Agent(model(CALLS), [list_files, delete_file])
    result = await run_in(mode, agent, "clean up")
    assert RAN == []  # not even list_files, which needs no approval
    assert [c.name for c in result.pending] == ["delete_file", "delete_file"]
    assert [json.loads(c.arguments) for c in result.pending] == [{"path": "a.txt"}, {"path": "b.txt"}]
    assert result.output is None
    last = result.messages[-1]
    assert last["role"] == "assistant" and [c["function"]["name"] for c in last["tool_calls"]] == [
        "list_files", "delete_file", "delete_file",
    ]  # fmt: skip
    check_transcript(result.messages, pending=True)
    with pytest.raises(AssertionError):
        check_transcript(result.messages)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_resume_runs_the_approved_tells_the_denied_and_runs_the_rest_once(mode):
    agent = Agent(model(CALLS, "Deleted a.txt; b.txt was kept."), [list_files, delete_file])
    stopped = await run_in(mode, agent, "clean up")
    a, b = stopped.pending
    transcript = json.loads(json.dumps(stopped.messages))  # plain JSON, as if stored
    result = await run_in(mode, agent, transcript, approvals={a.id: True, b.id: "b.txt is needed"})
    assert sorted(RAN) == ["delete a.txt", "list"]
    assert result.messages[: len(transcript)] == transcript  # kept unchanged
    answers = {m["tool_call_id"]: m["content"] for m in result.messages if m["role"] == "tool"}
    assert answers[a.id] == "deleted a.txt"
    assert answers[b.id] == "Error: the user did not allow this tool call (b.txt is needed)."
    assert result.output == "Deleted a.txt; b.txt was kept."
    assert result.pending == []
    check_transcript(result.messages)


@pytest.mark.anyio
async def test_false_denies_without_a_reason():
    agent = Agent(model(qw_call("delete_file", path="x"), "ok"), [delete_file])
    stopped = await agent.run("go")
    result = await agent.run(stopped.messages, approvals={stopped.pending[0].id: False})
    assert result.messages[-2]["content"] == "Error: the user did not allow this tool call (denied)."
    assert RAN == []


def test_resume_in_another_process(tmp_path):
    agent = Agent(model(qw_call("delete_file", path="x"), "ok"), [delete_file])
    stopped = agent.run_sync("go")
    assert RAN == [] and [c.name for c in stopped.pending] == ["delete_file"]  # stopped before it ran here
    (tmp_path / "t.json").write_text(json.dumps(stopped.messages))
    script = textwrap.dedent(f"""
        import json
        from agentkit import Agent
        from agentkit.testing import ScriptedModel
        from tests.test_approvals import RAN, delete_file
        messages = json.load(open({str(tmp_path / "t.json")!r}))
        call_id = messages[-1]["tool_calls"][0]["id"]
        result = Agent(ScriptedModel(["done"]), [delete_file]).run_sync(messages, approvals={{call_id: True}})
        print(json.dumps([result.output, RAN]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=".")
    assert json.loads(out.stdout) == ["done", ["delete x"]]  # it ran there, once


@pytest.mark.anyio
async def test_a_missing_or_stray_decision_is_the_callers_error():
    agent = Agent(model(CALLS), [list_files, delete_file])
    stopped = await agent.run("go")
    a, b = stopped.pending
    with pytest.raises(UserError, match=f"no decision for the pending calls {b.id}"):
        await agent.run(stopped.messages, approvals={a.id: True})
    with pytest.raises(UserError, match=r"not waiting for a decision: nope, other$"):
        await agent.run(stopped.messages, approvals={a.id: True, b.id: True, "nope": True, "other": 1})
    with pytest.raises(UserError, match=f"no decision for the pending calls {', '.join(sorted([a.id, b.id]))}: "):
        await agent.run(stopped.messages, approvals={})
    with pytest.raises(UserError, match="must be True, False or a reason"):
        await agent.run(stopped.messages, approvals={a.id: True, b.id: 1})
    with pytest.raises(UserError, match="no call in the conversation is waiting"):
        await agent.run("hello", approvals={a.id: True})
    assert RAN == []


@pytest.mark.anyio
async def test_streaming_starts_no_call_before_the_message_is_complete():
    # Without an approval tool list_files would start as soon as its call is complete.
    agent = Agent(model(CALLS), [list_files, delete_file])
    events = await collect(agent, "go")
    assert not any(isinstance(e, ToolCallStarted) for e in events)
    plain = Agent(model(qw_call("list_files") + qw_call("list_files"), "done"), [list_files])
    events = await collect(plain, "go")
    assert sum(isinstance(e, ToolCallStarted) for e in events) == 2


@pytest.mark.anyio
async def test_a_message_without_approval_calls_runs_as_usual():
    agent = Agent(model(qw_call("list_files"), "two files"), [list_files, delete_file])
    result = await agent.run("go")
    assert result.output == "two files" and result.pending == [] and RAN == ["list"]


@pytest.mark.anyio
async def test_a_typed_final_result_next_to_a_pending_call_ends_the_resumed_run():
    agent = Agent(model(qw_call("delete_file", path="x") + qw_call("final_result", result=3)), [delete_file],
                  output_type=int)  # fmt: skip
    stopped = await agent.run("go")
    assert [c.name for c in stopped.pending] == ["delete_file"]
    result = await agent.run(stopped.messages, approvals={stopped.pending[0].id: True})
    assert result.output == 3 and RAN == ["delete x"]
    check_transcript(result.messages)


@pytest.mark.anyio
async def test_a_resumed_run_keeps_to_its_usage_limits():
    from agentkit import UsageLimitExceeded, UsageLimits

    agent = Agent(model(CALLS), [list_files, delete_file])
    stopped = await agent.run("go")
    a, b = stopped.pending
    with pytest.raises(UsageLimitExceeded) as info:
        await agent.run(stopped.messages, approvals={a.id: True, b.id: True}, usage_limits=UsageLimits(max_tool_calls=2))
    assert len(RAN) == 2
    check_transcript(info.value.messages)
    assert sum("limit on tool calls" in m["content"] for m in info.value.messages if m["role"] == "tool") == 1


def test_unanswered_finds_only_the_last_assistant_messages_open_calls():
    from agentkit._approvals import unanswered

    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
    other = {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    asked = {"role": "assistant", "content": "", "tool_calls": [call, other]}
    answered = {"role": "tool", "tool_call_id": "c1", "name": "f", "content": "ok"}
    assert [c.id for c in unanswered([{"role": "user", "content": "x"}, asked])] == ["c1", "c2"]
    (left,) = unanswered([asked, answered])
    assert (left.id, left.name, left.arguments) == ("c2", "g", "{}")
    assert unanswered([asked, answered, {"role": "user", "content": "next"}]) == []
    assert unanswered([{"role": "assistant", "content": "done"}]) == []
    assert unanswered([]) == []
    # Arguments given as a dict are encoded as JSON text, as the wire has them.
    assert unanswered([asked])[0].arguments == '{"a": 1}'
    # Only the tool messages after the assistant message count, whatever comes before it.
    three = {**asked, "tool_calls": [call, other, {**other, "id": "c3"}]}
    second = {**answered, "tool_call_id": "c2"}
    assert [c.id for c in unanswered([three, answered, second])] == ["c3"]
    assert [c.id for c in unanswered([second, three, answered])] == ["c2", "c3"]


def test_open_calls_are_the_calls_no_tool_message_answers_anywhere():
    from agentkit._approvals import open_calls

    def asks(*ids):
        return {"role": "assistant", "content": "", "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids]}  # fmt: skip

    def answers(i):
        return {"role": "tool", "tool_call_id": i, "name": "f", "content": "ok"}

    user = {"role": "user", "content": "q"}
    assert open_calls([user, asks("a", "b"), answers("a"), answers("b"), user]) == []
    assert open_calls([user, asks("a", "b"), answers("b"), user, asks("c")]) == ["a", "c"]
    assert open_calls([asks("a"), {"role": "user", "content": "q", "tool_call_id": "a"}]) == ["a"]  # not a tool message
    # An answer after the next assistant message answers a later call with the same id, not this one.
    assert open_calls([user, asks("a"), user, {"role": "assistant", "content": "done"}, answers("a")]) == ["a"]


def test_went_on_answers_only_the_calls_the_model_spoke_after_right_after_their_answers():
    from agentkit._approvals import WENT_ON, went_on

    def asks(*ids, name="f"):
        return {"role": "assistant", "content": "", "tool_calls": [
            {"id": i, "type": "function", "function": {"name": name, "arguments": "{}"}} for i in ids]}  # fmt: skip

    def answers(i):
        return {"role": "tool", "tool_call_id": i, "name": "f", "content": "ok"}

    def left(i, name="f"):
        return {"role": "tool", "tool_call_id": i, "name": name, "content": WENT_ON}

    user, final = {"role": "user", "content": "q"}, {"role": "assistant", "content": "done"}
    waiting = [user, asks("a", "b"), answers("a")]  # the last message still waits: nothing is left behind
    same, ids = went_on(waiting)
    assert same is waiting and ids == []
    behind = [user, asks("a", "b", "c"), answers("a"), user, final, user, asks("d", name="g"), user, final]
    out, ids = went_on(behind)
    assert ids == ["b", "c", "d"]
    assert out == [user, asks("a", "b", "c"), answers("a"), left("b"), left("c"), user, final,
                   user, asks("d", name="g"), left("d", "g"), user, final]  # fmt: skip
    # An answer after the next assistant message is another call's: the call is still left behind.
    late = [user, asks("a"), user, final, answers("a")]
    assert went_on(late) == ([user, asks("a"), left("a"), user, final, answers("a")], ["a"])
    # A message without calls, and a call whose function is not an object, are handled.
    odd = {"role": "assistant", "content": "", "tool_calls": [{"id": "x", "type": "function", "function": "f"}]}
    assert went_on([user, odd, final]) == ([user, odd, left("x", None), final], ["x"])
    # A tool message before the call's own message (an id used again) answers an earlier call, not this one.
    reused = [user, asks("a"), answers("a"), asks("a"), user, final]
    assert went_on(reused) == ([user, asks("a"), answers("a"), asks("a"), left("a"), user, final], ["a"])


@pytest.mark.anyio
async def test_a_follow_up_after_answered_calls_is_a_new_question():
    agent = Agent(model(CALLS, "Deleted both.", "Nothing else."), [list_files, delete_file])
    stopped = await agent.run("clean up")
    done = await agent.run(stopped.messages, approvals={c.id: True for c in stopped.pending})
    result = await agent.run([*done.messages, {"role": "user", "content": "anything else?"}])
    assert result.output == "Nothing else." and result.pending == []
    check_transcript(result.messages)


@pytest.mark.anyio
async def test_a_new_question_after_a_stopped_run_is_refused_not_sent():
    m = model(CALLS)
    agent = Agent(m, [list_files, delete_file])
    stopped = await agent.run("go")
    with pytest.raises(UserError, match=r"tool calls without answers .*resume the run that stopped"):
        await agent.run([*stopped.messages, {"role": "user", "content": "something else?"}])
    assert len(m.calls) == 1  # nothing sent


@pytest.mark.anyio
async def test_only_pending_calls_take_a_decision():
    agent = Agent(model(CALLS), [list_files, delete_file])
    stopped = await agent.run("go")
    listing = stopped.messages[-1]["tool_calls"][0]["id"]  # list_files: needs no approval
    a, b = stopped.pending
    with pytest.raises(UserError, match=f"not waiting for a decision: {listing}"):
        await agent.run(stopped.messages, approvals={a.id: True, b.id: True, listing: False})
    with pytest.raises(UserError, match=r"approvals must be a dict of call id -> decision, not list$"):
        await agent.run(stopped.messages, approvals=[a.id])


@pytest.mark.anyio
async def test_an_invalid_final_result_in_the_resumed_message_counts_as_an_attempt():
    from agentkit import OutputValidationError

    m = model(qw_call("delete_file", path="x") + qw_call("final_result", result="three"))
    agent = Agent(m, [delete_file], output_type=int, output_retries=0)
    stopped = await agent.run("go")
    with pytest.raises(OutputValidationError) as info:
        await agent.run(stopped.messages, approvals={stopped.pending[0].id: True})
    assert len(m.calls) == 1 and RAN == ["delete x"]
    check_transcript(info.value.messages)


def test_open_calls_look_only_at_the_tool_messages_right_after_each_call():
    from agentkit._approvals import open_calls

    def asks(i):
        return {"role": "assistant", "content": "", "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}}]}  # fmt: skip

    answer = {"role": "tool", "tool_call_id": "call_0", "name": "f", "content": "ok"}
    user = {"role": "user", "content": "q"}
    # An earlier call with the same id was answered; the later one was not.
    assert open_calls([user, asks("call_0"), answer, user, asks("call_0"), user]) == ["call_0"]


class ReusingIds(ScriptedModel):
    """A server that numbers call ids per response: "call_0" in every response; its stream
    announces each call (ToolCallReady) before the message ends."""

    async def stream(self, messages, **kw):
        from agentkit._events import ToolCallReady
        from agentkit._model import CompletionDone

        completion = await self.complete(messages, **kw)
        for i, call in enumerate(completion.tool_calls):
            yield ToolCallReady(index=i, call=call)
        yield CompletionDone(completion=completion)


def calling(name, **args):
    from agentkit._events import ToolCall
    from agentkit._model import Completion

    call = ToolCall(id="call_0", name=name, arguments=json.dumps(args))
    return Completion(tool_calls=[call], finish_reason="tool_calls")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_call_ids_a_model_reuses_are_made_unique_in_the_transcript(tmp_path, mode):
    from agentkit._events import ToolCallReady
    from agentkit.sessions import SQLiteSession

    async def collect(agent, input, mode, **kw):
        if mode == "run":
            return await agent.run(input, **kw), []
        events = [e async for e in agent.stream(input, **kw)]
        return events[-1].result, events

    session = SQLiteSession(tmp_path / "s.db", "chat")
    m = ReusingIds([calling("list_files"), "Two files.", calling("delete_file", path="a.txt"), "Deleted."])
    agent = Agent(m, [list_files, delete_file])
    _, events = await collect(agent, "what is there?", mode, session=session)
    ready = [e.call.id for e in events if isinstance(e, ToolCallReady)]
    assert ready == ([] if mode == "run" else ["call_0"])  # not used before: kept
    stopped, events = await collect(agent, "delete a.txt", mode, session=session)
    (call,) = stopped.pending
    assert call.id != "call_0"  # the transcript has a call_0 already
    assert stopped.messages[-1]["tool_calls"][0]["id"] == call.id
    if mode == "stream":
        assert [e.call.id for e in events if isinstance(e, ToolCallReady)] == [call.id]
    done, _ = await collect(agent, [], mode, session=session, approvals={call.id: True})
    assert done.output == "Deleted." and RAN == ["list", "delete a.txt"]
    stored = await session.get_messages()
    check_transcript(stored)
    ids = [c["id"] for msg in stored for c in msg.get("tool_calls") or ()]
    assert len(ids) == len(set(ids)) == 2


@pytest.mark.anyio
async def test_a_reused_id_started_early_in_a_stream_is_renamed_once_and_runs_once():
    m = ReusingIds([calling("list_files"), "Two files.", calling("list_files"), "Still two."])
    agent = Agent(m, [list_files])  # no approval: calls start as soon as they are ready
    first = [e async for e in agent.stream("what is there?")][-1].result
    events = [e async for e in agent.stream([*first.messages, {"role": "user", "content": "and now?"}])]
    started = [e.call.id for e in events if isinstance(e, ToolCallStarted)]
    assert len(started) == 1 and started[0] != "call_0" and RAN == ["list", "list"]
    check_transcript(events[-1].result.messages)


@pytest.mark.anyio
async def test_a_resumed_call_sees_the_transcript_in_its_run_context():
    # Attacker review of issue 23 (#1): the seam's first version gave a resumed call an empty RunContext.messages.
    from agentkit import RunContext

    seen = []

    @tool(requires_approval=True)
    def send(ctx: RunContext, to: str) -> str:
        """Send a mail.

        Args:
            to: Who.
        """
        seen.append([m["role"] for m in ctx.messages])
        return "sent"

    agent = Agent(ScriptedModel([qw_call("send", to="bob"), "done"]), [send])
    first = await agent.run("mail bob")
    await agent.run(first.messages, approvals={first.pending[0].id: True})
    assert seen == [["user", "assistant"]]
