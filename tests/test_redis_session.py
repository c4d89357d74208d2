"""RedisSession against a real redis-server started for these tests (skipped where none is installed)."""

import shutil
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import anyio
import pytest

from agentkit import Agent
from agentkit.exceptions import UserError
from agentkit.sessions import RedisSession, Session
from agentkit.testing import ScriptedModel, check_transcript
from tests.test_sessions import TRICKY
from tests.test_store import _no_payments, check_one_won, gated, resume_twice  # noqa: F401 (a fixture)

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def redis_url():
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    pytest.importorskip("redis")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_messages_round_trip_exactly(redis_url):
    session = RedisSession("rt", url=redis_url)
    assert isinstance(session, Session)
    await session.clear()
    await session.add_messages(TRICKY)
    await session.add_messages([])
    again = RedisSession("rt", url=redis_url)
    assert await again.get_messages() == TRICKY
    assert await again.get_messages(limit=2) == TRICKY[-2:]
    assert await again.get_messages(limit=0) == []
    assert await again.get_messages(limit=99) == TRICKY
    assert await RedisSession("other", url=redis_url).get_messages() == []
    await again.clear()
    assert await session.get_messages() == []
    for bad in (-1, True, 1.5):
        with pytest.raises(UserError, match="limit"):
            await session.get_messages(bad)
    with pytest.raises(UserError, match="session_id"):
        RedisSession("", url=redis_url)
    assert repr(session) == f"RedisSession('rt', url={redis_url!r})"


async def test_no_password_in_the_repr_or_in_connection_errors(redis_url):
    secret = "s3cret-pw"
    host = redis_url.removeprefix("redis://")
    assert repr(RedisSession("rt", url=f"redis://user:{secret}@{host}")) == f"RedisSession('rt', url='redis://user:***@{host}')"
    assert repr(RedisSession("rt", url=f"redis://{host}?password={secret}&db=0")).endswith("?password=***&db=0')")
    assert repr(RedisSession("rt", url=f"redis://:{secret}@[::1")) == "RedisSession('rt', url='***')"
    assert repr(RedisSession("rt", url=f"redis://:p@{secret}@h:1/0?password={secret}&x=")) == (
        "RedisSession('rt', url='redis://:***@h:1/0?password=***&x=')")
    for url in (f"redis://user:{secret}@{host}", f"redis://:{secret}@127.0.0.1:1/0",
                f"redis://:{secret}@127.0.0.1:notaport/0"):  # fmt: skip
        session = RedisSession("rt", url=url)
        assert secret not in repr(session)
        with pytest.raises(Exception) as info:  # a wrong password, no server, a bad URL
            await Agent(ScriptedModel(["x"])).run("q", session=session)
        assert secret not in "".join(traceback.format_exception(info.value)), url


def test_a_ttl_is_a_whole_positive_number_of_seconds(redis_url):
    for bad in (0, -1, 1.5, True, "10", 10**13):
        with pytest.raises(UserError, match="ttl"):
            RedisSession("t", url=redis_url, ttl=bad)
    with pytest.raises(UserError, match="NUL"):
        RedisSession("a\0claims", url=redis_url)
    assert RedisSession("t", url=redis_url, ttl=10**12).ttl == 10**12 and RedisSession("t", ttl=1).ttl == 1
    assert RedisSession("t", prefix="app:").claims_key == "app:t\0claims"


async def test_prefix_and_ttl(redis_url):
    import redis.asyncio

    session = RedisSession("t", url=redis_url, prefix="app:", ttl=100)
    await session.add_messages([{"role": "user", "content": "hi"}])
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        assert await client.llen("app:t") == 1
        assert 0 < await client.ttl("app:t") <= 100
    assert session.key == "app:t"


def test_runs_store_and_resume_across_event_loops(redis_url):
    session = RedisSession("chat", url=redis_url)
    anyio.run(session.clear)
    model = ScriptedModel(["Hello, Ada.", "Your name is Ada."])
    agent = Agent(model, system="Be brief.")
    agent.run_sync("I am Ada.", session=session)  # each run_sync is a new event loop
    result = agent.run_sync("What is my name?", session=session)
    assert [m["content"] for m in model.calls[1].messages] == ["Be brief.", "I am Ada.", "Hello, Ada.",
                                                               "What is my name?"]  # fmt: skip
    assert anyio.run(session.get_messages) == result.messages[1:]
    check_transcript(result.messages)


WRITER = """
import sys, anyio
from agentkit import Agent
from agentkit.sessions import RedisSession
from agentkit.testing import ScriptedModel

url, worker = sys.argv[1], int(sys.argv[2])

async def main():
    for i in range(15):
        model = ScriptedModel(["done w%d-%d" % (worker, i)])
        await Agent(model).run(f"w{worker}-{i}", session=RedisSession(f"p{i % 3}", url=url))

anyio.run(main)
"""


def test_several_processes_lose_and_duplicate_nothing(redis_url):
    for s in range(3):
        anyio.run(RedisSession(f"p{s}", url=redis_url).clear)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, redis_url, str(w)], env={"PYTHONPATH": str(ROOT)},
                              stderr=subprocess.PIPE) for w in range(4)]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
    seen = []
    for s in range(3):
        stored = anyio.run(RedisSession(f"p{s}", url=redis_url).get_messages)
        for k in range(0, len(stored), 2):
            question, answer = stored[k]["content"], stored[k + 1]["content"]
            assert answer == f"done {question}"
            seen.append(question)
    assert sorted(seen) == sorted(f"w{w}-{i}" for w in range(4) for i in range(15))


async def test_two_concurrent_resumes_run_the_call_once(redis_url):
    await RedisSession("c", url=redis_url).clear()
    outcomes = await resume_twice(lambda gate: (gated(RedisSession, gate) if gate else RedisSession)("c", url=redis_url))
    check_one_won(outcomes, await RedisSession("c", url=redis_url).get_messages())


async def test_claims_are_atomic_and_answered_calls_cannot_be_claimed(redis_url):
    import redis.asyncio

    session, other = RedisSession("cl", url=redis_url, ttl=100), RedisSession("cl2", url=redis_url)
    await session.clear()
    await session.add_messages(TRICKY)  # c1 is answered there
    assert await session.claim_calls(["c1"]) is False
    assert await session.claim_calls(["c2", 'c"3']) is True
    assert await session.claim_calls(["c4", 'c"3']) is False  # all or nothing: c4 is not claimed
    assert await other.claim_calls(["c2"]) is True  # claims belong to one session
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        assert 0 < await client.ttl(session.claims_key) <= 100
    await session.release_calls(["c2", 'c"3'])
    assert await session.claim_calls(["c2", "c4"]) is True
    await session.add_messages([{"role": "tool", "tool_call_id": 'c"5', "content": "done"}])
    assert await session.claim_calls(['c"5']) is False
    assert await session.claim_calls(["c5"]) is True  # a call id is matched whole
    await session.clear()
    assert await session.get_messages() == [] and await session.claim_calls(["c4"]) is True
    assert await session.claim_calls([]) is True
    for bad in ("c9", [""], [3]):
        with pytest.raises(UserError, match="call_ids"):
            await session.claim_calls(bad)
        with pytest.raises(UserError, match="call_ids"):
            await session.release_calls(bad)


async def test_a_claim_looks_only_at_answers_after_the_call(redis_url):
    from tests.test_sessions import check_claims_of_a_reused_id

    session = RedisSession("reused", url=redis_url)
    await session.clear()
    await check_claims_of_a_reused_id(session)


async def test_a_row_that_is_not_a_message_is_a_session_error_naming_it(redis_url):
    import redis.asyncio

    from agentkit import SessionError

    session = RedisSession("torn", url=redis_url)
    await session.clear()
    await session.add_messages([{"role": "user", "content": "first"}])
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        await client.rpush(session.key, '{"role": "assistant", "content": "tru')
    with pytest.raises(SessionError, match=r"session 'torn': row 1 \(LINDEX .* 1\) is not a message"):
        await session.get_messages()
    with pytest.raises(SessionError, match=r"row -1 \(LINDEX .* -1\) is not a message"):
        await session.get_messages(limit=1)
    async with redis.asyncio.Redis.from_url(redis_url) as client:  # the way out the docs give
        await client.lset(session.key, 1, "deleted")
        await client.lrem(session.key, 1, "deleted")
    assert await session.get_messages() == [{"role": "user", "content": "first"}]


async def test_set_marks_changes_only_agentkits_keys(redis_url):
    from tests.test_sessions import check_set_marks

    session = RedisSession("marks", url=redis_url)
    await session.clear()
    await check_set_marks(session)
