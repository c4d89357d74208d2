"""Sessions on a real SQLite file: round trips, runs that load and store, concurrency across
processes, and the history policy that bounds what the model is sent."""

import contextlib
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit import Agent, ModelError, RunFinished, tool
from agentkit._marks import starts_turn
from agentkit._tool_runner import WithImages
from agentkit.exceptions import UserError
from agentkit.sessions import History, MemorySession, Session, SQLiteSession, count_tokens, fit
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import QUESTION, qw_call, weather_agent

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]

TRICKY = [
    {"role": "user", "content": 'héllo 🌦 \u0000 nul, \ud800 lone surrogate, 中文, "quotes"\n'},
    {
        "role": "assistant",
        "content": "",
        "reasoning_content": "Let me think… ∑",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": "é"}'}}],
    },
    {"role": "tool", "tool_call_id": "c1", "name": "f", "content": "x" * 2_000_000},
    {"role": "user", "content": [{"type": "text", "text": "parts"}, {"type": "image_url", "image_url": {"url": "u"}}]},
    {"role": "assistant", "content": "done", "reasoning_content": None},
]


async def test_messages_round_trip_exactly(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "a")
    assert isinstance(session, Session)
    await session.add_messages(TRICKY)
    again = SQLiteSession(tmp_path / "s.db", "a")  # a fresh object: read from the file
    assert await again.get_messages() == TRICKY
    assert await again.get_messages(limit=2) == TRICKY[-2:]
    assert await again.get_messages(limit=0) == []
    assert await again.get_messages(limit=99) == TRICKY
    assert await SQLiteSession(tmp_path / "s.db", "b").get_messages() == []
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_sessions_in_one_file_are_separate_and_clear_forgets_one(tmp_path):
    a, b = SQLiteSession(tmp_path / "s.db", "a"), SQLiteSession(tmp_path / "s.db", "b")
    await a.add_messages([{"role": "user", "content": "for a"}])
    await b.add_messages([{"role": "user", "content": "for b"}])
    await a.add_messages([])  # nothing to add: nothing changes
    await a.clear()
    assert await a.get_messages() == []
    assert await b.get_messages() == [{"role": "user", "content": "for b"}]


async def test_a_message_that_is_not_json_adds_nothing(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "a")
    with pytest.raises(TypeError):
        await session.add_messages([{"role": "user", "content": "ok"}, {"role": "user", "content": object()}])
    with pytest.raises(ValueError):
        await session.add_messages([{"role": "user", "content": float("nan")}])
    assert await session.get_messages() == []


def test_a_file_that_cannot_be_opened_fails_at_once(tmp_path):
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        anyio.run(SQLiteSession(tmp_path / "no" / "such" / "dir.db", "a").get_messages)
    assert time.monotonic() - started < 2  # not retried as if it were busy


def test_bad_arguments_are_user_errors(tmp_path):
    for bad in ("", None, 3):
        with pytest.raises(UserError, match="session_id"):
            SQLiteSession(tmp_path / "s.db", bad)
    session = SQLiteSession(tmp_path / "s.db", "a")
    for bad in (-1, True, 1.5):
        with pytest.raises(UserError, match="limit"):
            anyio.run(session.get_messages, bad)
    assert repr(session) == f"SQLiteSession({str(tmp_path / 's.db')!r}, 'a')"


async def test_a_locked_file_waits_and_retries_instead_of_failing(tmp_path):
    path = tmp_path / "s.db"
    session = SQLiteSession(path, "a")
    await session.add_messages([{"role": "user", "content": "first"}])
    held = threading.Event()

    def hold(seconds: float) -> None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(seconds)
        db.execute("COMMIT")
        db.close()

    # Held longer than SQLite's own busy wait (1 s): only the retries get the write through.
    thread = threading.Thread(target=hold, args=(2.5,))
    thread.start()
    held.wait()
    started = time.monotonic()
    await session.add_messages([{"role": "user", "content": "second"}])
    assert time.monotonic() - started >= 2.0
    thread.join()
    assert [m["content"] for m in await session.get_messages()] == ["first", "second"]

    held.clear()
    thread = threading.Thread(target=hold, args=(2.0,))
    thread.start()
    held.wait()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await SQLiteSession(path, "a", timeout=0.3).add_messages([{"role": "user", "content": "late"}])
    thread.join()
    assert len(await session.get_messages()) == 2


async def test_a_run_loads_the_history_and_stores_its_new_messages(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    agent, _ = weather_agent(system="Be brief.")
    first = await agent.run(QUESTION, session=session)
    stored = await session.get_messages()
    assert stored == first.messages[1:]  # all but the system message, which the agent supplies
    assert stored[0] == {"role": "user", "content": QUESTION}

    model = ScriptedModel(["Still 26.1 °C."])
    second = await Agent(model, system="Be brief.").run("And now?", session=session)
    sent = model.calls[0].messages
    assert sent == [{"role": "system", "content": "Be brief."}, *stored, {"role": "user", "content": "And now?"}]
    assert second.messages == [*sent, {"role": "assistant", "content": "Still 26.1 °C."}]
    check_transcript(second.messages)
    assert await session.get_messages() == second.messages[1:]
    assert await session.get_messages(limit=2) == second.messages[-2:]


async def test_a_conversation_input_keeps_its_own_system_message_first(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    await session.add_messages([{"role": "system", "content": "old"}, {"role": "user", "content": "a"},
                                {"role": "assistant", "content": "b"}])  # fmt: skip
    model = ScriptedModel(["c"])
    await Agent(model, system="agent's").run([{"role": "system", "content": "mine"}, {"role": "user", "content": "q"}],
                                             session=session)  # fmt: skip
    assert [m["content"] for m in model.calls[0].messages] == ["mine", "a", "b", "q"]
    assert [m["content"] for m in await session.get_messages()] == ["old", "a", "b", "q", "c"]


async def test_a_failed_run_adds_only_the_calls_that_ran(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    with pytest.raises(ModelError):
        await Agent(ScriptedModel([RuntimeError("down")])).run("hello?", session=session)
    assert await session.get_messages() == []  # nothing ran: nothing stored
    model = ScriptedModel([qw_call("get_current_temperature", location="Paris"), RuntimeError("down"), "26 °C."])
    agent, _ = weather_agent()
    agent.model = model
    with pytest.raises(ModelError) as info:
        await agent.run("weather?", session=session)
    stored = await session.get_messages()
    assert stored == info.value.messages and [m["role"] for m in stored] == ["user", "assistant", "tool"]
    # the run goes on from the session: the model reads the tool's answer, nothing runs again
    result = await agent.run([], session=session)
    assert result.output == "26 °C." and model.calls[-1].messages == stored
    check_transcript(await session.get_messages())


async def test_run_sync_and_stream_store_too_even_when_the_stream_is_left_early(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    await anyio.to_thread.run_sync(lambda: Agent(ScriptedModel(["one"])).run_sync("1", session=session))
    agent = Agent(ScriptedModel(["two", "three"]))
    events = [event async for event in agent.stream("2", session=session)]
    assert isinstance(events[-1], RunFinished)
    async with contextlib.aclosing(agent.stream("3", session=session)) as events:
        async for event in events:
            if isinstance(event, RunFinished):
                break  # the consumer stops at once: the messages are already stored
    assert [m["content"] for m in await session.get_messages()] == ["1", "one", "2", "two", "3", "three"]


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: The file.
    """
    return f"deleted {path}"


async def test_a_run_stopped_for_approval_stores_the_pending_calls_and_resumes_from_the_session(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    model = ScriptedModel([qw_call("delete_file", path="/tmp/x"), "Done."])
    agent = Agent(model, [delete_file], system="sys")
    stopped = await agent.run("delete /tmp/x", session=session)
    assert stopped.pending and await session.get_messages() == stopped.messages[1:]
    resumed = await agent.run([], session=session, approvals={stopped.pending[0].id: True})
    assert resumed.output == "Done."
    stored = await session.get_messages()
    assert stored == resumed.messages[1:]
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[2]["content"] == "deleted /tmp/x"
    check_transcript(resumed.messages)


async def test_concurrent_runs_on_one_session_never_interleave(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")

    def answer(messages):
        return "answer to " + messages[-1]["content"]

    agent = Agent(ScriptedModel(answer, delay=0.01))
    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(lambda i=i: agent.run(f"q{i}", session=session))
    stored = await session.get_messages()
    assert len(stored) == 40
    pairs = [(stored[i]["content"], stored[i + 1]["content"]) for i in range(0, 40, 2)]
    assert sorted(pairs) == sorted((f"q{i}", f"answer to q{i}") for i in range(20))


WRITER = """
import sys, anyio
from agentkit import Agent
from agentkit.sessions import SQLiteSession
from agentkit.testing import ScriptedModel

path, worker = sys.argv[1], int(sys.argv[2])

async def main():
    for i in range(15):
        session = SQLiteSession(path, f"s{i % 3}")
        # each run: its question, a tool call, the tool's answer, the final answer (4 messages)
        model = ScriptedModel(['<tool_call>\\n{"name": "echo", "arguments": {"text": "w%d-%d"}}\\n</tool_call>' % (worker, i),
                               "done w%d-%d" % (worker, i)])
        def echo(text: str) -> str:
            "Echo."
            return text
        await Agent(model, [echo]).run(f"w{worker}-{i}", session=session)

anyio.run(main)
"""


def test_several_processes_on_one_file_lose_and_duplicate_nothing(tmp_path):
    path = tmp_path / "shared.db"
    env = {"PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w)], env=env, stderr=subprocess.PIPE)
             for w in range(4)]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
    seen = []
    for s in range(3):
        stored = anyio.run(SQLiteSession(path, f"s{s}").get_messages)
        # each run's four messages are together, in order, whatever the other processes did
        for k in range(0, len(stored), 4):
            run = stored[k : k + 4]
            tag = run[0]["content"]
            assert [m["role"] for m in run] == ["user", "assistant", "tool", "assistant"]
            assert run[2]["content"] == tag and run[3]["content"] == f"done {tag}"
            seen.append(tag)
    assert sorted(seen) == sorted(f"w{w}-{i}" for w in range(4) for i in range(15))


# --- the history policy --------------------------------------------------------------------------

SYSTEM = {"role": "system", "content": "sys"}


def conversation(turns: int) -> list[dict]:
    """`turns` turns: a question, a tool call and its answer, then the final answer."""
    out = [SYSTEM]
    for t in range(turns):
        call = {"id": f"c{t}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        out += [{"role": "user", "content": f"q{t}"}, {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": f"c{t}", "content": "r" * 40}, {"role": "assistant", "content": f"a{t}"}]  # fmt: skip
    return out


def test_max_turns_keeps_the_system_message_and_the_last_whole_turns():
    messages = conversation(5)
    sent = fit(messages, History(max_turns=2))
    assert sent == [SYSTEM, *messages[-8:]]
    assert fit(messages, History(max_turns=5)) == messages
    assert fit(messages, History(max_turns=9)) == messages
    assert fit(messages, History(max_turns=1)) == [SYSTEM, *messages[-4:]]
    assert fit(messages, None) is messages
    assert len(messages) == 21  # not changed


def test_max_tokens_keeps_the_most_recent_turns_that_fit():
    messages = conversation(5)
    turn = sum(count_tokens(m) for m in messages[1:5])
    system = count_tokens(SYSTEM)
    assert fit(messages, History(max_tokens=system + 3 * turn)) == [SYSTEM, *messages[-12:]]
    assert fit(messages, History(max_tokens=system + 3 * turn - 1)) == [SYSTEM, *messages[-8:]]
    # the turn being answered is sent even when it alone is over the budget
    assert fit(messages, History(max_tokens=1)) == [SYSTEM, *messages[-4:]]
    assert fit(messages, History(max_turns=2, max_tokens=10**6)) == [SYSTEM, *messages[-8:]]


def test_messages_before_the_first_question_belong_to_the_first_turn():
    messages = [{"role": "assistant", "content": "hello"}, *conversation(2)[1:]]
    assert fit(messages, History(max_turns=2)) == messages
    assert fit(messages, History(max_turns=1)) == messages[-4:]
    # a long preamble counts in the first turn's size: that turn no longer fits
    messages = [{"role": "assistant", "content": "x" * 400}, *conversation(2)[1:]]
    turn = sum(count_tokens(m) for m in messages[1:5])
    assert fit(messages, History(max_tokens=2 * turn + 10)) == messages[-4:]
    assert fit(messages[1:], History(max_tokens=2 * turn + 10)) == messages[1:]


def test_count_tokens_estimates_or_uses_the_tokenizer():
    message = {"role": "assistant", "content": "abcdefgh", "reasoning_content": "ab",
               "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]}  # fmt: skip
    assert count_tokens(message) == 8  # "abcdefgh\nab\nf {}" is 16 characters: 4 tokens, + 4
    assert count_tokens({"role": "user", "content": "abcde"}) == 6
    assert count_tokens({"role": "user", "content": [{"type": "text", "text": "x"}]}) == 4 + 8
    # the JSON of content parts keeps non-ASCII text as it is: 38 characters, not 78
    assert count_tokens({"role": "user", "content": [{"type": "text", "text": "éééééééé"}]}) == 10 + 4
    call = {"id": "c", "function": {"name": "abcd", "arguments": "x" * 11}}  # "abcd xxxxxxxxxxx": 16
    assert count_tokens({"role": "assistant", "content": None, "tool_calls": [call]}) == 4 + 4
    assert count_tokens({"role": "assistant", "tool_calls": [{"function": {"name": "ab"}}]}) == 1 + 4
    assert count_tokens({"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}) == 1 + 4
    assert count_tokens({"role": "assistant", "tool_calls": [{}]}) == 1 + 4  # " "
    assert count_tokens({"role": "assistant", "content": "", "reasoning_content": "x" * 40}) == 11 + 4
    from agentkit import LocalModel

    local = LocalModel.demo()  # the built-in model: a real tokenizer
    text = "The weather in San Francisco is 26.1 °C."
    assert count_tokens({"role": "user", "content": text}, local) == len(local.tokenizer.encode(text)) + 4
    assert count_tokens({"role": "user", "content": text}, local) != count_tokens({"role": "user", "content": text})
    # a token budget counts with the model's tokenizer when the model has one: every message of
    # the policy's sum (system message, last turn, older turns) is counted with it
    words = "temperature " * 20  # one token per word for this tokenizer, 3 estimated
    system = {"role": "system", "content": words}
    messages = [system, *(m | {"content": words} for m in conversation(3)[1:])]
    assert all(count_tokens(m, local) < count_tokens(m) for m in messages if m["content"])
    turn = sum(count_tokens(m, local) for m in messages[1:5])
    policy = History(max_tokens=count_tokens(system, local) + 2 * turn)
    assert fit(messages, policy, local) == [system, *messages[-8:]]
    assert fit(messages, policy) == [system, *messages[-4:]]


def test_bad_policies_are_user_errors():
    for bad in ({"max_turns": 0}, {"max_tokens": -5}, {"max_turns": True}, {"max_tokens": 2.5}):
        with pytest.raises(UserError, match="History"):
            History(**bad)
    with pytest.raises(UserError, match="history must be a History"):
        Agent(ScriptedModel(["x"]), history=3).run_sync("q")
    with pytest.raises(UserError, match="session must be a Session"):
        Agent(ScriptedModel(["x"])).run_sync("q", session="file.db")


async def test_a_run_sends_the_bounded_history_but_stores_and_returns_all(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    old = conversation(4)[1:]
    await session.add_messages(old)
    model = ScriptedModel(["fine"])
    result = await Agent(model, system="sys", history=History(max_turns=2)).run("q4", session=session)
    assert model.calls[0].messages == [SYSTEM, *old[-4:], {"role": "user", "content": "q4"}]
    assert result.messages == [
        SYSTEM,
        *old,
        {"role": "user", "content": "q4"},
        {"role": "assistant", "content": "fine"},
    ]
    assert await session.get_messages() == result.messages[1:]
    # per run, overriding the agent's policy
    model = ScriptedModel(["fine"])
    await Agent(model, system="sys", history=History(max_turns=2)).run("q5", session=session, history=None)
    assert len(model.calls[0].messages) == 1 + len(result.messages[1:]) + 1


async def test_the_bound_applies_on_every_model_call_of_a_run():
    agent, model = weather_agent(history=History(max_turns=1))
    result = await agent.run([{"role": "user", "content": "old"}, {"role": "assistant", "content": "x"},
                              {"role": "user", "content": QUESTION}])  # fmt: skip
    assert [m["content"] for m in model.calls[0].messages] == [QUESTION]
    assert model.calls[1].messages[0] == {"role": "user", "content": QUESTION}
    assert len(model.calls[1].messages) == 4 and len(result.messages) == 7


PIXEL = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


@tool
def picture() -> WithImages:
    """Take a picture."""
    return WithImages(text="[image: image/png, 8 bytes]", images=(PIXEL,))


async def test_a_turn_starts_only_at_a_message_the_caller_gave():
    # The run inserts user messages itself (the images after a tool result, the typed-output
    # retry); History(max_turns=1) still sends the question they belong to.
    model = ScriptedModel([qw_call("picture"), "a red dot"])
    model.takes_images = True
    agent = Agent(model, [picture], history=History(max_turns=1))
    result = await agent.run([{"role": "user", "content": "old"}, {"role": "assistant", "content": "x"},
                              {"role": "user", "content": "What is in the picture?"}])  # fmt: skip
    second = model.calls[1].messages
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "user"]
    assert second[0] == {"role": "user", "content": "What is in the picture?"}
    assert second[-1]["content"][1] == PIXEL
    assert result.messages[-2]["agentkit_inserted"] == "images"  # kept in the transcript
    model = ScriptedModel(["three", qw_call("final_result", result=3)])
    agent = Agent(model, output_type=int, history=History(max_turns=1))
    result = await agent.run([{"role": "user", "content": "old"}, {"role": "assistant", "content": "x"},
                              {"role": "user", "content": "How many?"}])  # fmt: skip
    assert result.output == 3
    assert [m["content"] for m in model.calls[1].messages][:2] == ["How many?", "three"]
    assert result.messages[-3]["agentkit_inserted"] == "output_retry"
    # A transcript given back (or loaded from a session) keeps the marks: they bound the next run too.
    stored = json.loads(json.dumps(result.messages))
    follow_up = {"role": "user", "content": "next"}
    assert fit([*stored, follow_up], History(max_turns=2)) == [*stored[2:], follow_up]


async def test_a_session_keeps_the_runs_own_messages_marked(tmp_path):
    session = SQLiteSession(tmp_path / "s.db", "chat")
    model = ScriptedModel([qw_call("picture"), "a red dot", "yes"])
    model.takes_images = True
    agent = Agent(model, [picture], history=History(max_turns=2))
    first = await agent.run("What is in the picture?", session=session)
    stored = await session.get_messages()
    assert stored == first.messages and stored[3]["agentkit_inserted"] == "images"
    await agent.run("Is it red?", session=session)
    # Two turns: the whole first one (its images message is not a turn of its own), then the question.
    assert [m["role"] for m in model.calls[2].messages] == ["user", "assistant", "tool", "user", "assistant", "user"]
    assert model.calls[2].messages[0]["content"] == "What is in the picture?"
    assert "agentkit_inserted" not in model.calls[2].messages[3]


IMAGES = {"role": "user", "content": [PIXEL], "agentkit_inserted": "images"}
RETRY = {"role": "user", "content": "Answer with the final_result tool.", "agentkit_inserted": "output_retry"}


@st.composite
def conversations(draw):
    """Conversations as runs leave them: turns that start at the caller's user messages (one or
    more in a row) and hold the user messages the run inserts (images after tool results, output
    retries); a turn may end without an answer (a failed run)."""
    out = [SYSTEM] if draw(st.booleans()) else []
    for t in range(draw(st.integers(0, 6))):
        for _ in range(draw(st.integers(1, 2))):
            out.append({"role": "user", "content": "u" * draw(st.integers(0, 60))})
        for s in range(draw(st.integers(0, 3))):
            ids = [f"c{t}-{s}-{k}" for k in range(draw(st.integers(1, 3)))]
            calls = [{"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids]
            out.append({"role": "assistant", "content": "", "tool_calls": calls})
            out += [{"role": "tool", "tool_call_id": i, "content": "r" * draw(st.integers(0, 80))} for i in ids]
            if draw(st.booleans()):
                out.append(dict(IMAGES))
        for _ in range(draw(st.integers(0, 2))):
            out += [{"role": "assistant", "content": "not the output"}, dict(RETRY)]
        if draw(st.integers(0, 4)):
            out.append({"role": "assistant", "content": "a" * draw(st.integers(0, 40))})
    return out


@settings(max_examples=300, deadline=None)
@given(conversations(), st.one_of(st.none(), st.integers(1, 8)), st.one_of(st.none(), st.integers(1, 300)))
def test_the_bound_never_separates_calls_from_their_answers(messages, turns, tokens):
    copy = json.loads(json.dumps(messages))
    sent = fit(messages, History(max_turns=turns, max_tokens=tokens))
    assert messages == copy  # the conversation itself is not changed
    head = [m for m in messages[:1] if m["role"] == "system"]
    assert sent[: len(head)] == head
    rest = sent[len(head) :]
    assert rest == messages[len(messages) - len(rest) :]  # a suffix of the conversation
    # It starts at a message the caller gave: never at one the run inserted, mid-turn.
    assert not rest or starts_turn(rest[0]) or rest == messages[len(head) :]
    asked = {c["id"] for m in rest for c in m.get("tool_calls") or ()}
    assert all(m["tool_call_id"] in asked for m in rest if m["role"] == "tool")
    given_ = [m for m in messages if starts_turn(m)]
    if given_:
        assert given_[-1] in rest  # the turn being answered is always sent
    if turns is not None:
        assert sum(starts_turn(m) for m in rest) <= turns
    if tokens is not None and sum(starts_turn(m) for m in rest) > 1:
        assert sum(count_tokens(m) for m in sent) <= tokens


async def test_a_cancelled_run_still_stores_a_finished_runs_messages():
    class SlowSession:  # a Session whose writes take a while (a remote store, say)
        def __init__(self):
            self.stored = []

        async def get_messages(self, limit=None):
            return list(self.stored)

        async def add_messages(self, messages):
            await anyio.sleep(0.3)
            self.stored.extend(messages)

        async def clear(self):
            self.stored.clear()

    session = SlowSession()
    assert isinstance(session, Session)
    with anyio.move_on_after(0.1):
        await Agent(ScriptedModel(["answer"])).run("q", session=session)
    assert [m["content"] for m in session.stored] == ["q", "answer"]


# --- claims on pending calls ---------------------------------------------------------------------


def _sqlite_pair(tmp_path):
    return SQLiteSession(tmp_path / "s.db", "c"), SQLiteSession(tmp_path / "s.db", "d")


def _memory_pair(tmp_path):
    from agentkit.sessions import MemorySession

    return MemorySession(), MemorySession()


@pytest.mark.parametrize("pair", [_sqlite_pair, _memory_pair], ids=["sqlite", "memory"])
async def test_claims_are_atomic_and_answered_calls_cannot_be_claimed(tmp_path, pair):
    session, other = pair(tmp_path)
    assert await session.claim_calls(["c1", "c2", "c1"]) is True  # an id twice is claimed once
    assert await session.claim_calls(["c3", "c2"]) is False  # all or nothing: c3 is not claimed
    assert await other.claim_calls(["c1"]) is True  # claims belong to one session
    await session.release_calls(["c1", "c2"])
    assert await session.claim_calls(["c3"]) is True
    await session.add_messages([{"role": "tool", "tool_call_id": "c4", "content": "done"}])
    assert await session.claim_calls(["c4"]) is False
    await session.clear()
    assert await session.claim_calls(["c3"]) is True  # clear forgets the claims too
    await session.add_messages(TRICKY)  # any stored JSON is read, a lone surrogate included
    assert await session.claim_calls(["c1"]) is False and await session.claim_calls([]) is True
    for bad in ("c9", [""], [3]):
        with pytest.raises(UserError, match="call_ids"):
            await session.claim_calls(bad)
        with pytest.raises(UserError, match="call_ids"):
            await session.release_calls(bad)


def _asks(call_id: str) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": "pay", "arguments": "{}"}}]}  # fmt: skip


# An id a model used twice (stored by an older agentkit): the first call was answered, the second waits.
REUSED = [{"role": "user", "content": "q"}, _asks("call_0"),
          {"role": "tool", "tool_call_id": "call_0", "name": "pay", "content": "ok"},
          {"role": "assistant", "content": "done"}, {"role": "user", "content": "again"}, _asks("call_0")]  # fmt: skip


async def check_claims_of_a_reused_id(session) -> None:
    await session.add_messages(REUSED)
    assert await session.claim_calls(["call_0"]) is True  # the answer before its message is another call's
    await session.release_calls(["call_0"])
    await session.add_messages([{"role": "tool", "tool_call_id": "call_0", "name": "pay", "content": "ok"}])
    assert await session.claim_calls(["call_0"]) is False


@pytest.mark.parametrize("pair", [_sqlite_pair, _memory_pair], ids=["sqlite", "memory"])
async def test_a_claim_looks_only_at_answers_after_the_call(tmp_path, pair):
    await check_claims_of_a_reused_id(pair(tmp_path)[0])


async def test_a_memory_sessions_answers_are_tool_messages_after_the_calls_own_message():
    from agentkit.sessions import MemorySession

    session = MemorySession()
    # A user message with the id, or a tool message for another id, answers nothing.
    await session.add_messages([_asks("a"), {"role": "user", "content": "x", "tool_call_id": "a"},
                                {"role": "tool", "tool_call_id": "b", "name": "pay", "content": "ok"}])  # fmt: skip
    assert await session.claim_calls(["a"]) is True
    await session.release_calls(["a"])
    await session.add_messages([{"role": "tool", "tool_call_id": "a", "name": "pay", "content": "ok"}])
    assert await session.claim_calls(["a"]) is False and await session.claim_calls(["b"]) is False
    # An id no assistant message holds, answered or not, follows the same rule.
    assert await session.claim_calls(["zzz"]) is True
    assert repr(session) == "MemorySession(4 messages)"
    assert len(await session.get_messages(limit=1)) == 1 and await session.get_messages(limit=0) == []
    for bad in ("3", True, -1):
        with pytest.raises(UserError, match="limit"):
            await session.get_messages(limit=bad)


@pytest.mark.parametrize("bad", ['{"role": "user", "content": "trunc', "null", '"text"', '{"content": "no role"}'])
async def test_a_row_that_is_not_a_message_is_a_session_error_naming_it(tmp_path, bad):
    from agentkit import SessionError

    path = tmp_path / "s.db"
    session = SQLiteSession(path, "s")
    agent = Agent(ScriptedModel(["one", "two"]))
    await agent.run("first", session=session)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO messages (session_id, message) VALUES ('s', ?)", (bad,))
        (row,) = db.execute("SELECT max(id) FROM messages").fetchone()
    for attempt in (session.get_messages, lambda: agent.run("second", session=session)):
        with pytest.raises(SessionError, match=rf"session 's'.*row {row} is not a message") as caught:
            await attempt()
        assert caught.value.messages == []
    with sqlite3.connect(path) as db:  # the way out the docs give: delete that row
        db.execute("DELETE FROM messages WHERE id = ?", (row,))
    assert [m["content"] for m in await session.get_messages()] == ["first", "one"]


async def test_a_memory_session_keeps_copies_and_claims_like_the_stored_ones():
    from agentkit.sessions import MemorySession

    session = MemorySession()
    call = {"id": "c1", "type": "function", "function": {"name": "pay", "arguments": "{}"}}
    given = [{"role": "user", "content": "pay"}, {"role": "assistant", "content": "", "tool_calls": [call]}]
    await session.add_messages(given)
    given[0]["content"] = "changed"
    assert (await session.get_messages())[0]["content"] == "pay"
    assert await session.get_messages(1) == [given[1]] and await session.get_messages(0) == []
    assert await session.claim_calls(["c1"]) and not await session.claim_calls(["c1", "c2"])
    assert await session.claim_calls(["c2"])  # nothing of a refused claim was taken
    await session.release_calls(["c1"])
    await session.add_messages([{"role": "tool", "tool_call_id": "c1", "content": "paid"}])
    assert not await session.claim_calls(["c1"])  # answered
    await session.clear()
    assert await session.get_messages() == [] and await session.claim_calls(["c2"])
    with pytest.raises(UserError, match="limit"):
        await session.get_messages(-1)


async def check_set_marks(session):
    """`set_marks` changes agentkit's own keys on the stored message of those calls, nothing else."""
    calls = [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    await session.add_messages([{"role": "user", "content": "hi"},
                                {"role": "assistant", "content": "", "tool_calls": calls, "agentkit_pending": ["a"]}])  # fmt: skip
    assert await session.set_marks(["a"], {"agentkit_subruns": {"a": {"x": 1}}, "agentkit_pending": None})
    stored = await session.get_messages()
    assert stored[1] == {"role": "assistant", "content": "", "tool_calls": calls, "agentkit_subruns": {"a": {"x": 1}}}
    assert not await session.set_marks(["b"], {"agentkit_pending": ["b"]})
    with pytest.raises(UserError, match="agentkit_"):
        await session.set_marks(["a"], {"content": "rewritten"})
    assert (await session.get_messages())[1]["content"] == ""


@pytest.mark.anyio
async def test_memory_and_sqlite_sessions_set_marks(tmp_path):
    await check_set_marks(MemorySession())
    await check_set_marks(SQLiteSession(tmp_path / "s.db", "one"))
