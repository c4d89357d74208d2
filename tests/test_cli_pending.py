"""Calls waiting for approval in ``agentkit chat`` (agentkit/cli/_pending.py): the person is asked,
the run resumes with the decisions, and a new question instead denies the calls nobody decided on."""

import signal
import subprocess
import sys
import threading

import anyio
import pytest

from agentkit import ToolCall
from agentkit.cli._pending import INSTEAD, UNKNOWN, decision, new_question, shown_arguments
from agentkit.sessions import SQLiteSession
from tests import cli_agents
from tests.test_cli import ROOT, agentkit, env, sigint_default, wait_until_reading

PAYMENTS = ("--agent", "tests.cli_agents:payments")


@pytest.fixture(autouse=True)
def paid():
    cli_agents.PAID.clear()
    return cli_agents.PAID


def prompt(amount):
    return f'approve pay({{"amount": {amount}}})? y / n / or a reason to deny: '


def valid(messages):
    """Every call answered exactly once, by tool messages right after its message."""
    answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    calls = [c["id"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or ()]
    return sorted(answered) == sorted(calls) and len(set(answered)) == len(answered)


def test_approved_the_call_runs_once_and_the_answer_follows(paid):
    run = agentkit("chat", *PAYMENTS, input="pay 5\ny\n")
    assert run.returncode == 0, run.stderr
    assert paid == [5]
    assert prompt(5) in run.stdout
    assert "assistant: tool said: paid 5" in run.stdout


def test_denied_the_call_does_not_run_and_the_model_hears_why(paid):
    run = agentkit("chat", *PAYMENTS, input="pay 5\nn\npay 6\nnot on a Sunday\n")
    assert run.returncode == 0, run.stderr
    assert paid == []
    assert "assistant: tool said: Error: the user did not allow this tool call (denied)." in run.stdout
    assert "(not on a Sunday)" in run.stdout


def test_each_waiting_call_is_asked_about_and_an_empty_answer_asks_again(paid):
    run = agentkit("chat", *PAYMENTS, input="pay 5 and 7\n\ny\nn\nhello\n")
    assert run.returncode == 0, run.stderr
    assert paid == [5]
    assert run.stdout.count(prompt(5)) == 2 and run.stdout.count(prompt(7)) == 1
    assert "tool said: paid 5 | Error: the user did not allow this tool call (denied)." in run.stdout
    assert "you asked: hello (0 calls denied by a new question)" in run.stdout


def test_a_session_that_starts_with_a_waiting_call_asks_about_it_first(tmp_path, paid):
    db = tmp_path / "chat.db"
    # End of input at the prompt: the chat ends, the call waits in the file.
    first = agentkit("chat", *PAYMENTS, "--session", str(db), input="pay 5\n")
    assert first.returncode == 0 and paid == [] and prompt(5) in first.stdout
    stored = anyio.run(SQLiteSession(db, "chat").get_messages)
    assert stored[-1]["tool_calls"][0]["function"]["name"] == "pay"
    # The next chat on the file asks first; "y" is the answer, not a question.
    second = agentkit("chat", *PAYMENTS, "--session", str(db), input="y\nthanks\n")
    assert second.returncode == 0, second.stderr
    assert paid == [5]
    assert second.stdout.startswith(prompt(5))
    assert "tool said: paid 5" in second.stdout and "you asked: thanks" in second.stdout
    stored = anyio.run(SQLiteSession(db, "chat").get_messages)
    assert valid(stored) and [m["content"] for m in stored if m["role"] == "user"] == ["pay 5", "thanks"]


def test_a_new_question_instead_of_an_answer_denies_the_waiting_call(tmp_path):
    """Ctrl-C at the approval prompt leaves the call waiting; the next question denies it (a real
    child process over pipes, waiting on what it prints)."""
    db, ledger = tmp_path / "chat.db", tmp_path / "paid"
    child = subprocess.Popen([sys.executable, "-m", "agentkit", "chat", *PAYMENTS, "--session", str(db)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT, env={**env(), "AGENTKIT_TEST_PAID": str(ledger)},
                             preexec_fn=sigint_default)  # fmt: skip
    out: list[str] = []
    asked, waits, answered = threading.Event(), threading.Event(), threading.Event()

    def read():
        for char in iter(lambda: child.stdout.read(1), ""):
            out.append(char)
            text = "".join(out)
            asked.set() if prompt(5) in text else None
            waits.set() if "a new question denies" in text else None
            answered.set() if "you asked:" in text else None

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        child.stdin.write("pay 5\n")
        child.stdin.flush()
        assert asked.wait(120), "".join(out)
        wait_until_reading(child)
        child.send_signal(signal.SIGINT)
        assert waits.wait(120), "".join(out)
        child.stdin.write("what is the weather\n")
        child.stdin.close()
        assert answered.wait(120), "".join(out)
        assert child.wait(60) == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reader.join(10)
    assert not ledger.exists()  # pay never ran
    assert "you asked: what is the weather (1 calls denied by a new question)" in "".join(out)
    stored = anyio.run(SQLiteSession(db, "chat").get_messages)
    assert valid(stored)
    assert [m["content"] for m in stored if m["role"] == "tool"] == [INSTEAD]


class Chatting:
    """A chat in a real child process over pipes; `until(text)` waits for what it prints."""

    def __init__(self, *args, paid):
        self.child = subprocess.Popen([sys.executable, "-m", "agentkit", "chat", *args], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                      env={**env(), "AGENTKIT_TEST_PAID": str(paid)},
                                      preexec_fn=sigint_default)  # fmt: skip
        self.out: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for char in iter(lambda: self.child.stdout.read(1), ""):
            with self.changed:
                self.out.append(char)
                self.changed.notify_all()

    def text(self):
        return "".join(self.out)

    def until(self, condition):
        test = condition if callable(condition) else lambda: condition in self.text()
        with self.changed:
            assert self.changed.wait_for(test, 120), self.text()

    def say(self, line):
        self.child.stdin.write(line + "\n")
        self.child.stdin.flush()

    def end(self):
        self.child.stdin.close()
        try:
            assert self.child.wait(60) == 0, self.child.stderr.read()
        finally:
            if self.child.poll() is None:
                self.child.kill()
                self.child.wait()


def test_ctrl_c_after_an_approved_call_keeps_its_result_without_a_session(tmp_path):
    """y, the call runs, Ctrl-C while the answer streams: the next question's model still sees
    the call's real result (it is not denied as "not run")."""
    ledger = tmp_path / "paid"
    chat = Chatting("--agent", "tests.cli_agents:slow_payments", paid=ledger)
    chat.say("pay 5")
    chat.until(prompt(5))
    wait_until_reading(chat.child)
    chat.say("y")
    chat.until("tool said: paid 5")
    chat.child.send_signal(signal.SIGINT)
    chat.until("stopped:")
    chat.say("did it go through")
    chat.until("(0 calls denied by a new question)")
    assert "you asked: did it go through (0 calls denied by a new question)" in chat.text()
    chat.end()
    assert ledger.read_text().split() == ["5"]


def test_ctrl_c_while_an_approved_call_runs_answers_it_may_have_run(tmp_path):
    """--session: Ctrl-C while the approved call runs: it is answered "may have partly run" in the
    file (never "not run"), and the next question goes on from there."""
    db, ledger = tmp_path / "chat.db", tmp_path / "paid"
    chat = Chatting("--agent", "tests.cli_agents:hanging_payments", "--session", str(db), paid=ledger)
    chat.say("pay 5")
    chat.until(prompt(5))
    wait_until_reading(chat.child)
    chat.say("y")
    chat.until(lambda: ledger.exists() and ledger.read_text() == "started 5\n")
    chat.child.send_signal(signal.SIGINT)
    chat.until("stopped:")
    chat.say("did it go through")
    chat.until("(0 calls denied by a new question)")
    chat.end()
    stored = anyio.run(SQLiteSession(db, "chat").get_messages)
    assert valid(stored)
    [answer] = [m["content"] for m in stored if m["role"] == "tool"]
    assert "may have partly run" in answer


def test_a_call_claimed_by_a_chat_that_died_is_answered_outcome_unknown(tmp_path, paid):
    """A chat killed while its approved call ran leaves the call claimed: the next chat says it may
    have run and, with the person's yes, answers it "outcome unknown"; it never runs it again."""
    db = tmp_path / "chat.db"
    first = agentkit("chat", *PAYMENTS, "--session", str(db), input="pay 5\n")
    assert first.returncode == 0, first.stderr
    session = SQLiteSession(db, "chat")
    [call] = [c["id"] for c in anyio.run(session.get_messages)[-1]["tool_calls"]]
    assert anyio.run(session.claim_calls, [call])  # what the killed chat's resume held
    second = agentkit("chat", *PAYMENTS, "--session", str(db), input="y\nwhat happened\n")
    assert second.returncode == 0, second.stderr
    assert paid == []
    assert "the call may have run" in second.stdout and prompt(5) not in second.stdout
    assert "you asked: what happened (0 calls denied by a new question)" in second.stdout
    stored = anyio.run(session.get_messages)
    assert valid(stored) and [m["content"] for m in stored if m["role"] == "tool"] == [UNKNOWN]
    assert anyio.run(session.claim_calls, ["other"])  # the file is not left locked


def test_a_claimed_call_the_person_does_not_settle_stays_waiting(tmp_path, paid):
    db = tmp_path / "chat.db"
    agentkit("chat", *PAYMENTS, "--session", str(db), input="pay 5\n")
    session = SQLiteSession(db, "chat")
    [call] = [c["id"] for c in anyio.run(session.get_messages)[-1]["tool_calls"]]
    assert anyio.run(session.claim_calls, [call])
    second = agentkit("chat", *PAYMENTS, "--session", str(db), input="n\n")
    assert second.returncode == 0, second.stderr
    assert "the call waits, claimed" in second.stdout and paid == []
    assert [m["role"] for m in anyio.run(session.get_messages)] == ["user", "assistant"]


def test_the_prompt_shows_the_arguments_on_one_line(paid):
    """60 newlines of JSON whitespace in the arguments cannot push them off the screen."""
    run = agentkit("chat", "--agent", "tests.cli_agents:spaced_payments", input="pay\ny\n")
    assert run.returncode == 0, run.stderr
    assert prompt(5) in run.stdout
    assert paid == [5]


@pytest.mark.parametrize(("given", "shown"), [
    ('{"to":"bob",\n\n"amount":5}', '{"to": "bob", "amount": 5}'),
    ('{"to": "a\\nb\\u001b[2J"}', '{"to": "a\\nb\\u001b[2J"}'),  # JSON writes ESC out itself
    ("not json\nat all\x1b", "not json\\nat all\\x1b"),
    ('{"to": "' + "x" * 500 + '"}', '{"to": "' + "x" * 392 + "… (110 more characters not shown)"),
    # Invisible characters cannot hide or reorder a part of what the person approves.
    ('{"to": "bob\u200f\u2028\u2066", "note": "\u200d"}', '{"to": "bob\\u200f\\u2028\\u2066", "note": "\\u200d"}'),
])  # fmt: skip
def test_how_the_prompt_shows_arguments(given, shown):
    assert shown_arguments(given) == shown


def test_new_question_answers_each_waiting_call_once_then_asks():
    call = ToolCall(id="c2", name="pay", arguments="{}").to_dict()
    transcript = [{"role": "user", "content": "pay"},
                  {"role": "assistant", "content": "", "tool_calls": [{**call, "id": "c1"}, call]},
                  {"role": "tool", "tool_call_id": "c1", "name": "pay", "content": "paid"}]  # fmt: skip
    added = new_question(transcript, "next")
    assert added == [{"role": "tool", "tool_call_id": "c2", "name": "pay", "content": INSTEAD},
                     {"role": "user", "content": "next"}]  # fmt: skip
    assert valid(transcript + added)
    assert new_question([*transcript, *added[:1]], "again") == [{"role": "user", "content": "again"}]
    assert new_question([], "first") == [{"role": "user", "content": "first"}]


@pytest.mark.parametrize(("answer", "verdict"),
                         [("y", True), (" YES ", True), ("n", False), ("No", False), ("not now", "not now"),
                          ("", None), ("  ", None)])  # fmt: skip
def test_the_answers_the_prompt_takes(answer, verdict):
    assert decision(answer) == verdict


def test_without_a_session_a_denied_call_stays_in_the_conversation(paid):
    run = agentkit("chat", *PAYMENTS, input="pay 5\nn\nhello\n")
    assert paid == [] and "you asked: hello" in run.stdout
    assert "(0 calls denied by a new question)" in run.stdout  # a decided call is not denied again



def test_a_session_whose_waiting_calls_cannot_be_looked_at_still_chats(tmp_path, paid):
    db = tmp_path / "chat.db"
    agentkit("chat", *PAYMENTS, "--session", str(db), input="pay 5\n")  # leaves the call waiting
    # An MCP server that cannot start: which tools need approval cannot be known, so nobody is
    # asked, and the chat goes on (to the end of its input here).
    run = agentkit("chat", "--tools", "tests.cli_agents:pay", "--mcp", "false", "--session", str(db), input="")
    assert run.returncode == 0, run.stderr
    assert "[cannot ask about the waiting calls: " in run.stdout and "approve" not in run.stdout
    assert paid == []


def test_a_new_question_that_finds_the_call_claimed_asks_and_then_goes_on(tmp_path, paid, monkeypatch):
    """Another chat approved the waiting call after this one started: this chat's new question
    does not deny it a second time; with the person's yes it is answered "outcome unknown", then
    the question is asked."""
    from agentkit.cli._chat import Chat

    db = tmp_path / "chat.db"
    agentkit("chat", *PAYMENTS, "--session", str(db), input="pay 5\n")
    session = SQLiteSession(db, "chat")
    [call] = [c["id"] for c in anyio.run(session.get_messages)[-1]["tool_calls"]]
    other_chat_approves = lambda chat: anyio.run(session.claim_calls, [call])  # noqa: E731
    monkeypatch.setattr(Chat, "resume_waiting", other_chat_approves)
    run = agentkit("chat", *PAYMENTS, "--session", str(db), input="hello\ny\n")
    assert run.returncode == 0, run.stderr
    assert "the call may have run" in run.stdout and paid == []
    assert "you asked: hello (0 calls denied by a new question)" in run.stdout
    stored = anyio.run(session.get_messages)
    assert valid(stored) and [m["content"] for m in stored if m["role"] == "tool"] == [UNKNOWN]
    assert [m["content"] for m in stored if m["role"] == "user"] == ["pay 5", "hello"]


def test_run_stopped_for_approval_says_so_on_stderr_and_exits_1(paid):
    import json

    run = agentkit("run", *PAYMENTS, "pay 5")
    assert (run.returncode, paid) == (1, [])
    assert 'agentkit run: stopped before 1 call that waits for approval: pay({"amount": 5})' in run.stderr
    as_json = agentkit("run", "--json", *PAYMENTS, "pay 5")
    assert as_json.returncode == 1 and paid == []
    [waiting] = json.loads(as_json.stdout)["pending"]
    assert waiting["function"] == {"name": "pay", "arguments": '{"amount": 5}'}


def test_a_sub_agents_call_is_asked_about_and_runs_once(paid):
    run = agentkit("chat", "--agent", "tests.cli_agents:delegating", input="pay 5\ny\n")
    assert run.returncode == 0, run.stderr
    assert paid == [5] and prompt(5) in run.stdout
    assert "the payer said: tool said: paid 5" in run.stdout


def test_a_session_waiting_on_a_sub_agents_call_asks_about_that_call_first(tmp_path, paid):
    db = tmp_path / "chat.db"
    first = agentkit("chat", "--agent", "tests.cli_agents:delegating", "--session", str(db), input="pay 5\n")
    assert first.returncode == 0 and paid == [] and prompt(5) in first.stdout
    second = agentkit("chat", "--agent", "tests.cli_agents:delegating", "--session", str(db), input="y\n")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(prompt(5)) and paid == [5]
    assert "the payer said: tool said: paid 5" in second.stdout
    assert valid(anyio.run(SQLiteSession(db, "chat").get_messages))
