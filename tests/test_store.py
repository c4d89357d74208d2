"""A run's writes to its session (agentkit/_store.py): a failed run stores the calls that ran, a
resume stores its answers at once and claims its pending calls (two resumes, in tasks or
processes, run a call once), and a store that fails keeps the result."""

import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from agentkit import (
    Agent,
    ApprovalError,
    MaxTurnsExceeded,
    ModelError,
    ResumeConflictError,
    SessionError,
    UsageLimitExceeded,
    UsageLimits,
    tool,
)
from agentkit.cli._pending import INSTEAD, new_question
from agentkit.exceptions import UserError
from agentkit.sessions import MemorySession, SQLiteSession
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import qw_call

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


PAID: list[int] = []


@tool(requires_approval=True)
def pay(amount: int) -> str:
    """Pay.

    Args:
        amount: How much.
    """
    PAID.append(amount)
    return f"paid {amount}"


@tool
def note(text: str) -> str:
    """Take a note.

    Args:
        text: The note.
    """
    PAID.append(-1)
    return "noted"


@pytest.fixture(autouse=True)
def _no_payments():
    PAID.clear()


def paying(messages):
    """The model: asks to pay 500, then says it is done once the payment's answer is in."""
    return "Paid." if messages[-1]["role"] == "tool" else qw_call("pay", amount=500)


async def test_a_resume_that_fails_after_the_approved_call_ran_never_runs_it_again(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    agent = Agent(ScriptedModel([qw_call("pay", amount=500), RuntimeError("down"), "Paid."]), [pay])
    stopped = await agent.run("pay 500", session=session)
    approvals = {stopped.pending[0].id: True}
    with pytest.raises(ModelError):
        await agent.run([], session=session, approvals=approvals)
    assert PAID == [500]
    stored = await session.get_messages()
    assert [m["role"] for m in stored] == ["user", "assistant", "tool"] and stored[2]["content"] == "paid 500"
    with pytest.raises(UserError, match="no call in the conversation is waiting"):
        await agent.run([], session=session, approvals=approvals)  # the same resume, retried
    result = await agent.run([], session=session)  # the run goes on from the payment's answer
    assert result.output == "Paid." and PAID == [500]
    check_transcript(await session.get_messages())


class HangingModel(ScriptedModel):
    """Answers its script, then hangs on the next call until cancelled."""

    def __init__(self, script, hang_at: int):
        super().__init__(script)
        self.hang_at, self.hanging = hang_at, anyio.Event()

    async def complete(self, messages, **kw):
        if len(self.calls) == self.hang_at:
            self.hanging.set()
            await anyio.sleep_forever()
        return await super().complete(messages, **kw)


TWO_NOTES = qw_call("note", text="a") + qw_call("note", text="b")


@pytest.mark.parametrize("failure", ["max_turns", "tool_calls", "approval_hook", "cancelled"])
async def test_any_failure_stores_the_turns_whose_calls_ran(tmp_path, failure):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    options: dict = {}
    if failure == "max_turns":
        model, error, options["max_turns"] = ScriptedModel([qw_call("note", text="a")]), MaxTurnsExceeded, 1
    elif failure == "tool_calls":
        model, error = ScriptedModel([TWO_NOTES]), UsageLimitExceeded
        options["usage_limits"] = UsageLimits(max_tool_calls=1)
    elif failure == "approval_hook":
        model, error = ScriptedModel([TWO_NOTES]), ApprovalError
        options["approve"] = lambda call: 1 / 0 if "b" in call.arguments else True
    else:
        model, error = HangingModel([qw_call("note", text="a")], hang_at=1), None
    agent = Agent(model, [note])
    if error is None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: agent.run("notes", session=session))
            await model.hanging.wait()  # the first turn's call has run
            tg.cancel_scope.cancel()
    else:
        with pytest.raises(error):
            await agent.run("notes", session=session, **options)
    stored = await session.get_messages()
    assert [m["role"] for m in stored][:3] == ["user", "assistant", "tool"] and stored[2]["content"] == "noted"
    assert stored[-1]["role"] == "tool"
    check_transcript(stored)
    assert PAID == [-1]


class Gate:
    """Lets `n` tasks through once all of them have arrived."""

    def __init__(self, n: int):
        self.n, self.open = n, anyio.Event()

    async def arrive(self) -> None:
        self.n -= 1
        if self.n == 0:
            self.open.set()
        await self.open.wait()


def gated(cls, gate: Gate):
    """A session class whose reads wait at `gate`: each resume has read the pending call before
    any of them claims it."""

    class Gated(cls):
        async def get_messages(self, limit=None):
            messages = await super().get_messages(limit)
            await gate.arrive()
            return messages

    return Gated


async def resume_twice(make_session) -> list:
    """Two resumes of one session's pending payment at once; what each ended with."""
    agent = Agent(ScriptedModel(paying), [pay])
    stopped = await agent.run("pay 500", session=make_session(None))
    gate, outcomes = Gate(2), []

    async def resume() -> None:
        try:
            outcomes.append(await agent.run([], session=make_session(gate), approvals={stopped.pending[0].id: True}))
        except ResumeConflictError as e:
            outcomes.append(e)

    async with anyio.create_task_group() as tg:
        tg.start_soon(resume)
        tg.start_soon(resume)
    return outcomes


def check_one_won(outcomes, stored) -> None:
    assert PAID == [500]
    (error,) = [o for o in outcomes if isinstance(o, ResumeConflictError)]
    (won,) = [o for o in outcomes if not isinstance(o, ResumeConflictError)]
    assert won.output == "Paid." and error.calls == [won.messages[2]["tool_call_id"]]
    assert "release_calls" in str(error)
    assert stored == won.messages and [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    check_transcript(stored)


async def test_two_concurrent_resumes_run_the_call_once(tmp_path):
    path = tmp_path / "s.db"
    outcomes = await resume_twice(lambda gate: gated(SQLiteSession, gate)(path, "c") if gate else SQLiteSession(path, "c"))
    check_one_won(outcomes, await SQLiteSession(path, "c").get_messages())


RESUMER = """
import os, sys, time, anyio
from pathlib import Path
from agentkit import Agent, ResumeConflictError
from agentkit.sessions import SQLiteSession
from agentkit.testing import ScriptedModel
from tests.test_store import PAID, pay, paying

path, marks, call_id = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

class Gated(SQLiteSession):
    async def get_messages(self, limit=None):
        messages = await super().get_messages(limit)
        (marks / str(os.getpid())).touch()
        while len(list(marks.iterdir())) < 2:  # both processes have read the pending call
            await anyio.sleep(0.01)
        return messages

async def main():
    try:
        await Agent(ScriptedModel(paying), [pay]).run([], session=Gated(path, "c"), approvals={call_id: True})
        print("won", PAID)
    except ResumeConflictError:
        print("refused", PAID)

anyio.run(main)
"""


def test_two_processes_resuming_one_call_run_it_once(tmp_path):
    path, marks = tmp_path / "s.db", tmp_path / "marks"
    marks.mkdir()
    stopped = Agent(ScriptedModel(paying), [pay]).run_sync("pay 500", session=SQLiteSession(path, "c"))
    procs = [subprocess.Popen([sys.executable, "-c", RESUMER, str(path), str(marks), stopped.pending[0].id],
                              env={"PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]  # fmt: skip
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
        outs.append(out.decode().strip())
    assert sorted(outs) == ["refused []", "won [500]"]
    stored = anyio.run(SQLiteSession(path, "c").get_messages)
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    check_transcript(stored)


async def test_a_claimed_call_whose_resume_died_is_not_run_again_and_can_be_released(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "c")
    started = anyio.Event()

    @tool(requires_approval=True)
    async def transfer(amount: int) -> str:
        """Transfer.

        Args:
            amount: How much.
        """
        PAID.append(amount)
        started.set()
        await anyio.sleep_forever()  # the process dies here, as far as the session can tell
        return "never"

    agent = Agent(ScriptedModel([qw_call("transfer", amount=7), "Not sent."]), [transfer])
    stopped = await agent.run("send 7", session=session)
    call_id = stopped.pending[0].id
    # What a resume that died while the call ran leaves (a cancelled one answers the call: see below).
    assert await session.claim_calls([call_id])
    with pytest.raises(ResumeConflictError, match=r"release_calls") as info:
        await agent.run([], session=session, approvals={call_id: True})
    assert info.value.calls == [call_id] and PAID == []
    await session.release_calls([call_id])  # no run works on it: the person decides again
    result = await agent.run([], session=session, approvals={call_id: "it may have been sent"})
    assert result.output == "Not sent." and PAID == [] and not started.is_set()
    stored = await session.get_messages()
    assert stored[2]["content"] == "Error: the user did not allow this tool call (it may have been sent)."
    check_transcript(stored)


async def test_a_store_that_fails_at_the_end_keeps_the_result():
    class Broken:
        async def get_messages(self, limit=None):
            return []

        async def add_messages(self, messages):
            raise OSError("disk full")

        async def clear(self):
            pass

    with pytest.raises(SessionError, match="disk full") as info:
        await Agent(ScriptedModel(["answer"])).run("q", session=Broken())
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.result.output == "answer"
    assert info.value.messages == info.value.result.messages == [{"role": "user", "content": "q"},
                                                                 {"role": "assistant", "content": "answer"}]  # fmt: skip
    # a run that failed, and whose calls that ran could not be stored either
    model = ScriptedModel([qw_call("note", text="a"), RuntimeError("down")])
    with pytest.raises(SessionError, match=r"ModelError.*disk full") as info:
        await Agent(model, [note]).run("q", session=Broken())
    assert info.value.result is None and isinstance(info.value.__cause__, OSError)
    check_transcript(info.value.messages)


async def test_a_claim_that_fails_runs_nothing(tmp_path):
    class Unclaimable(SQLiteSession):
        async def claim_calls(self, call_ids):
            raise ConnectionError("store unreachable")

    agent = Agent(ScriptedModel(paying), [pay])
    stopped = await agent.run("pay 500", session=SQLiteSession(tmp_path / "s.db", "c"))
    with pytest.raises(SessionError, match=r"could not claim .*nothing ran.*unreachable"):
        await agent.run([], session=Unclaimable(tmp_path / "s.db", "c"), approvals={stopped.pending[0].id: True})
    assert PAID == []


DYING = """
import sys, time
from pathlib import Path
from agentkit import Agent, tool
from agentkit.sessions import SQLiteSession
from agentkit.testing import ScriptedModel

path, mark, call_id = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

@tool(requires_approval=True)
def pay(amount: int) -> str:
    "Pay."
    mark.write_text(str(amount))  # the payment went out; the process is killed before it answers
    time.sleep(600)
    return "never"

Agent(ScriptedModel(["never"]), [pay]).run_sync([], session=SQLiteSession(path, "c"), approvals={call_id: True})
"""


def test_a_resume_killed_while_its_call_ran_leaves_a_claim_that_only_a_release_lifts(tmp_path):
    path, mark = tmp_path / "s.db", tmp_path / "paid"
    agent = Agent(ScriptedModel(paying), [pay])
    stopped = agent.run_sync("pay 500", session=SQLiteSession(path, "c"))
    call_id = stopped.pending[0].id
    proc = subprocess.Popen([sys.executable, "-c", DYING, str(path), str(mark), call_id],
                            env={"PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)  # fmt: skip
    while not mark.exists():  # wait for the condition: the payment ran in that process
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=60)
    session = SQLiteSession(path, "c")
    with pytest.raises(ResumeConflictError, match="may have run"):
        agent.run_sync([], session=session, approvals={call_id: True})
    assert PAID == []  # not run again here
    anyio.run(session.release_calls, [call_id])
    result = agent.run_sync([], session=session, approvals={call_id: "it may have been paid: check"})
    assert result.output == "Paid." and PAID == []
    stored = anyio.run(session.get_messages)
    assert stored[2]["content"] == "Error: the user did not allow this tool call (it may have been paid: check)."
    check_transcript(stored)


async def test_a_failed_run_stores_the_images_message_with_the_calls_that_ran(tmp_path):
    from agentkit._tool_runner import WithImages

    pixel = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}

    @tool
    def snap() -> WithImages:
        """Take a picture."""
        return WithImages(text="a picture", images=(pixel,))

    session = SQLiteSession(tmp_path / "s.db", "chat")
    model = ScriptedModel([qw_call("snap"), RuntimeError("down")])
    model.takes_images = True
    with pytest.raises(ModelError):
        await Agent(model, [snap]).run("look", session=session)
    stored = await session.get_messages()
    check_transcript(stored)
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "user"]
    assert stored[3]["agentkit_inserted"] == "images" and pixel in stored[3]["content"]


STUCK = anyio.Event()


@tool
async def stuck() -> str:
    """A lookup that never ends."""
    STUCK.set()
    await anyio.sleep_forever()
    return "never"


@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_a_run_cancelled_mid_turn_stores_the_calls_of_that_turn_that_ran(tmp_path, mode):
    global STUCK
    STUCK = anyio.Event()
    session = SQLiteSession(tmp_path / "s.db", "chat")
    both = qw_call("note", text="a") + qw_call("stuck")
    agent = Agent(ScriptedModel([both, "Done."]), [note, stuck])

    async def go() -> None:
        if mode == "run":
            await agent.run("notes", session=session)
        else:
            async for _ in agent.stream("notes", session=session):
                pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(go)
        await STUCK.wait()
        while PAID != [-1]:  # the note call has run; `stuck` is still running
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    stored = await session.get_messages()
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "tool"]
    check_transcript(stored)
    answers = {m["name"]: m["content"] for m in stored[2:]}
    assert answers["note"] == "noted"
    assert "not run to completion" in answers["stuck"] and "cancelled" in answers["stuck"]
    result = await agent.run("go on", session=session)  # a retry does not take the note again
    assert result.output == "Done." and PAID == [-1]


def _pay_call(call_id: str) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": "pay", "arguments": '{"amount": 500}'}}]}  # fmt: skip


async def test_a_call_left_behind_by_a_concurrent_run_never_jams_the_session(tmp_path):
    # Run A stopped for approval; run B, which loaded the history before A stored, stored its
    # turn after A's waiting message: the conversation went on without a decision on A's call.
    session = SQLiteSession(tmp_path / "s.db", "chat")
    await session.add_messages([{"role": "user", "content": "Pay 500."}, _pay_call("p1"),
                                {"role": "user", "content": "What time is it?"},
                                {"role": "assistant", "content": "Noon."}])  # fmt: skip
    model = ScriptedModel(["Hello."])
    agent = Agent(model, [pay])
    for decision in (True, "no"):
        with pytest.raises(UserError, match=r"p1 can no longer be decided: the conversation went on"):
            await agent.run([], session=session, approvals={"p1": decision})
    result = await agent.run("Hello?", session=session)
    assert result.output == "Hello." and PAID == []
    sent = model.calls[-1].messages
    check_transcript(sent)
    assert sent[2] == {"role": "tool", "tool_call_id": "p1", "name": "pay",
                       "content": "Error: this call was not run: the conversation went on without a decision on it"}  # fmt: skip
    stored = await session.get_messages()
    assert [m.get("content") for m in stored[-2:]] == ["Hello?", "Hello."] and len(stored) == 6
    # A transcript given without a session is opened the same way.
    again = await Agent(ScriptedModel(["Hi."]), [pay]).run([*stored, {"role": "user", "content": "Hi?"}])
    check_transcript(again.messages)


async def test_the_sessions_own_transcript_given_again_as_input_is_refused(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    model = ScriptedModel([qw_call("pay", amount=500), "Paid."])
    agent = Agent(model, [pay])
    stopped = await agent.run("Pay 500.", session=session)
    approvals = {stopped.pending[0].id: True}
    for given in (stopped.messages, stopped.messages[1:]):
        with pytest.raises(UserError, match="repeats the session's stored conversation"):
            await agent.run(given, session=session, approvals=approvals)
    assert PAID == [] and len(model.calls) == 1  # nothing ran, nothing was sent
    done = await agent.run([], session=session, approvals=approvals)  # the way with a session
    assert done.output == "Paid." and PAID == [500]
    check_transcript(await session.get_messages())
    check_transcript(await session.get_messages())
    other = SQLiteSession(tmp_path / "s.db", "plain")  # a conversation without calls: all of it given again
    first = await Agent(ScriptedModel(["Hello.", "Again."])).run("Hi.", session=other)
    with pytest.raises(UserError, match="repeats the session's stored conversation"):
        await Agent(ScriptedModel(["x"])).run([*first.messages, {"role": "user", "content": "More."}], session=other)
    again = await Agent(ScriptedModel(["Hello again."])).run("Hi.", session=other)  # the same question: a new one
    assert again.output == "Hello again." and len(await other.get_messages()) == 4


async def test_a_run_ending_between_a_resumes_two_writes_lands_between_them(tmp_path):
    # docs/sessions.md says so: a resume stores its answers at once and the rest when it ends.
    session = SQLiteSession(tmp_path / "s.db", "chat")
    proceed = anyio.Event()

    class Model(ScriptedModel):
        async def complete(self, messages, **kw):
            if messages[-1]["role"] == "tool":
                await proceed.wait()  # the resume's model call, after its answers are stored
            return await super().complete(messages, **kw)

    def respond(messages):
        if messages[-1].get("content") == "Pay 500.":
            return qw_call("pay", amount=500)
        return "Paid." if messages[-1]["role"] == "tool" else "Noon."

    agent = Agent(Model(respond), [pay])
    stopped = await agent.run("Pay 500.", session=session)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: agent.run([], session=session, approvals={stopped.pending[0].id: True}))
        while len(await session.get_messages()) < 3:  # the resume has stored its answer
            await anyio.sleep(0.01)
        await agent.run("What time is it?", session=session)
        proceed.set()
    stored = await session.get_messages()
    assert [m.get("content") for m in stored[2:]] == ["paid 500", "What time is it?", "Noon.", "Paid."]
    assert PAID == [500]
    check_transcript(stored)


@tool(requires_approval=True)
async def stuck_transfer() -> str:
    """A transfer that never ends."""
    STUCK.set()
    await anyio.sleep_forever()
    return "never"


async def test_a_resume_cancelled_while_a_call_runs_stores_the_calls_that_ran(tmp_path):
    global STUCK
    STUCK = anyio.Event()
    session = SQLiteSession(tmp_path / "s.db", "chat")
    agent = Agent(ScriptedModel([qw_call("pay", amount=500) + qw_call("stuck_transfer"), "Done."]),
                  [pay, stuck_transfer])  # fmt: skip
    stopped = await agent.run("pay and transfer", session=session)
    approvals = {c.id: True for c in stopped.pending}
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: agent.run([], session=session, approvals=approvals))
        await STUCK.wait()
        while PAID != [500]:
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    stored = await session.get_messages()
    check_transcript(stored)
    answers = {m["name"]: m["content"] for m in stored if m["role"] == "tool"}
    assert answers["pay"] == "paid 500" and "may have partly run" in answers["stuck_transfer"]
    with pytest.raises(UserError, match="no call in the conversation is waiting"):
        await agent.run([], session=session, approvals=approvals)
    assert PAID == [500]


async def test_a_resume_cancelled_while_its_only_call_runs_answers_it_may_have_run(tmp_path):
    """Nothing finished, but the claimed call started: it is answered, and its claim lifted."""
    global STUCK
    STUCK = anyio.Event()
    session = SQLiteSession(tmp_path / "s.db", "chat")
    agent = Agent(ScriptedModel([qw_call("stuck_transfer"), "Done."]), [stuck_transfer])
    stopped = await agent.run("transfer", session=session)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: agent.run([], session=session, approvals={stopped.pending[0].id: True}))
        await STUCK.wait()
        tg.cancel_scope.cancel()
    stored = await session.get_messages()
    check_transcript(stored)
    assert [m["role"] for m in stored] == ["user", "assistant", "tool"]
    assert "may have partly run" in stored[-1]["content"]
    assert await session.claim_calls(["another"])  # no claim litter blocks the file


GO = anyio.Event()


@tool(requires_approval=True)
async def gated_pay(amount: int) -> str:
    """Pay, once the test says go."""
    STUCK.set()
    await GO.wait()
    PAID.append(amount)
    return f"paid {amount}"


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
async def test_a_new_question_racing_a_resume_gets_a_clear_error_and_each_call_one_answer(tmp_path, kind):
    """One chat approves the waiting call (its resume runs it) while another asks a new question,
    which would deny it: the question's run claims the call too, so it loses, and stores nothing."""
    global STUCK, GO
    STUCK, GO = anyio.Event(), anyio.Event()
    session = SQLiteSession(tmp_path / "s.db", "chat") if kind == "sqlite" else MemorySession()
    model = ScriptedModel(lambda m: qw_call("gated_pay", amount=500) if m[-1]["content"] == "pay" else "ok")
    agent = Agent(model, [gated_pay])
    stopped = await agent.run("pay", session=session)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: agent.run([], session=session, approvals={stopped.pending[0].id: True}))
        await STUCK.wait()
        with pytest.raises(ResumeConflictError, match="a new message could not answer the pending calls"):
            await agent.run(new_question(await session.get_messages(), "weather?"), session=session)
        GO.set()
    stored = await session.get_messages()
    check_transcript(stored)
    assert PAID == [500] and [m["content"] for m in stored if m["role"] == "tool"] == ["paid 500"]
    # Asked again now, the question goes on from the answered call.
    again = await agent.run(new_question(stored, "weather?"), session=session)
    assert again.output == "ok"
    check_transcript(await session.get_messages())


async def test_a_new_question_stores_its_denials_at_once_and_a_late_resume_is_refused(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    agent = Agent(ScriptedModel(lambda m: qw_call("pay", amount=5) if m[-1]["content"] == "pay" else "ok"), [pay])
    stopped = await agent.run("pay", session=session)
    await agent.run(new_question(stopped.messages[1:], "weather?"), session=session)
    with pytest.raises(UserError, match="no call in the conversation is waiting"):
        await agent.run([], session=session, approvals={stopped.pending[0].id: True})
    stored = await session.get_messages()
    check_transcript(stored)
    assert PAID == [] and [m["content"] for m in stored if m["role"] == "tool"] == [INSTEAD]
