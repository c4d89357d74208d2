"""Conversations that last: a session stores a conversation's messages between runs.

`agent.run(input, session=session)` puts the session's history before `input` and, when the
run ends, adds the run's new messages all together (a run that fails adds only its calls that
ran; a resume's answers are added as soon as they exist). A `History` policy bounds what the
model is sent, never what is stored.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio.to_thread

from ._marks import starts_turn
from ._model import Message
from .exceptions import SessionError, UserError

__all__ = ["History", "MemorySession", "RedisSession", "SQLiteSession", "Session", "count_tokens", "fit"]

T = TypeVar("T")


@runtime_checkable
class Session(Protocol):
    """Where a conversation's messages are kept between runs.

    A session may also have ``async claim_calls(call_ids) -> bool`` (atomically: when none of the
    calls is claimed or answered by a stored tool message, claim them all and return True; else
    change nothing and return False) and ``async release_calls(call_ids)`` (forget those claims).
    A resume claims its pending calls with them, so that two resumes never both run a call.
    """

    async def get_messages(self, limit: int | None = None) -> list[Message]:
        """The stored messages, oldest first; with `limit`, only the last `limit` of them."""
        ...

    async def add_messages(self, messages: Sequence[Message]) -> None:
        """Append `messages`, all together: another writer's messages never come between them."""
        ...

    async def clear(self) -> None:
        """Forget the conversation."""
        ...


class MemorySession:
    """A `Session` in this process's memory, with claims: for one program's conversation that
    need not outlive it (``agentkit chat`` without ``--session`` keeps its conversation in one).
    Like the other sessions it keeps what ran when a run fails or is cancelled."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._claims: set[str] = set()

    def __repr__(self) -> str:
        return f"MemorySession({len(self._messages)} messages)"

    async def get_messages(self, limit: int | None = None) -> list[Message]:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise UserError(f"limit must be None or a non-negative int, not {limit!r}")
        kept = self._messages if limit is None else self._messages[len(self._messages) - limit :]
        copied: list[Message] = json.loads(json.dumps(kept))  # a caller's change never reaches the store
        return copied

    async def add_messages(self, messages: Sequence[Message]) -> None:
        self._messages.extend(json.loads(json.dumps(list(messages))))  # JSON, as the other sessions keep

    async def clear(self) -> None:
        """Forget the conversation and its claims."""
        self._messages, self._claims = [], set()

    async def claim_calls(self, call_ids: Sequence[str]) -> bool:
        """Claim pending calls: all of them, when none is claimed or answered (True), else none (False)."""
        ids = _ids(call_ids)
        if any(i in self._claims or self._answered(i) for i in ids):
            return False
        self._claims.update(ids)
        return True

    async def release_calls(self, call_ids: Sequence[str]) -> None:
        """Forget the claims on `call_ids`."""
        self._claims.difference_update(_ids(call_ids))

    async def set_marks(self, call_ids: Sequence[str], marks: Mapping[str, Any]) -> bool:
        """Set agentkit's own keys on the stored assistant message that makes the calls `call_ids`
        (`_marked`); False when no such message is stored."""
        at = _find(self._messages, call_ids)
        if at is None:
            return False
        self._messages[at] = _marked(self._messages[at], marks)
        return True

    def _answered(self, call_id: str) -> bool:
        """A tool message answers `call_id` after the last assistant message holding it."""
        for m in reversed(self._messages):
            if m.get("role") == "tool" and m.get("tool_call_id") == call_id:
                return True
            if m.get("role") == "assistant" and any(c.get("id") == call_id for c in m.get("tool_calls") or ()):
                return False
        return False


class SQLiteSession:
    """A `Session` in a SQLite file, shared safely by concurrent runs and processes.

    Many sessions (by `session_id`) can live in one file. The file is in WAL mode (readers
    never wait for a writer); each call opens its own connection in a worker thread, and a
    write that finds the file locked waits (SQLite's busy timeout, up to 1 s) and then retries with
    growing random pauses, for up to `timeout` seconds in all, before raising.
    """

    def __init__(self, path: str | Path, session_id: str, *, timeout: float = 30.0) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise UserError(f"session_id must be a non-empty str, not {session_id!r}")
        self.path = Path(path)
        self.session_id = session_id
        self.timeout = timeout
        self._ready = False

    def __repr__(self) -> str:
        return f"SQLiteSession({str(self.path)!r}, {self.session_id!r})"

    async def get_messages(self, limit: int | None = None) -> list[Message]:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise UserError(f"limit must be None or a non-negative int, not {limit!r}")
        return await self._call(self._read, limit)

    async def add_messages(self, messages: Sequence[Message]) -> None:
        # Encoded here, before any lock is taken: a message that is not JSON fails alone.
        rows = [(self.session_id, _encode(m)) for m in messages]
        if rows:
            await self._call(self._write, rows)

    async def clear(self) -> None:
        """Forget the conversation and its claims."""
        await self._call(self._clear)

    async def claim_calls(self, call_ids: Sequence[str]) -> bool:
        """Claim pending calls for one resume, in one transaction: all of them, when none is
        claimed or answered by a stored tool message (True), else none (False)."""
        return await self._call(self._claim, _ids(call_ids)) if call_ids else True

    async def release_calls(self, call_ids: Sequence[str]) -> None:
        """Forget the claims on `call_ids` (a resume that died before storing their answers)."""
        if call_ids:
            await self._call(self._release, _ids(call_ids))

    # --- in the worker thread ----------------------------------------------------------------

    async def _call(self, fn: Callable[[sqlite3.Connection, Any], T], arg: Any = None) -> T:
        return await anyio.to_thread.run_sync(self._with_retry, fn, arg)

    def _with_retry(self, fn: Callable[[sqlite3.Connection, Any], T], arg: Any) -> T:
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            try:
                # isolation_level=None: transactions are ours (BEGIN IMMEDIATE below), not the module's.
                with _closing(sqlite3.connect(self.path, timeout=min(self.timeout, 1.0), isolation_level=None)) as db:
                    if not self._ready:
                        _create(db)
                        self._ready = True
                    return fn(db, arg)
            except sqlite3.OperationalError as e:
                # "database is locked" / "busy": another writer held the file past the busy timeout.
                if not _is_busy(e) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.5)

    def _read(self, db: sqlite3.Connection, limit: int | None) -> list[Message]:
        if limit is None:
            rows = db.execute("SELECT id, message FROM messages WHERE session_id = ? ORDER BY id", (self.session_id,))
        else:
            rows = db.execute(
                "SELECT id, message FROM (SELECT id, message FROM messages WHERE session_id = ? ORDER BY id DESC"
                " LIMIT ?) ORDER BY id",
                (self.session_id, limit),
            )
        return [_decode(text, f"session {self.session_id!r} in {str(self.path)!r}: row {i}") for i, text in rows]

    async def set_marks(self, call_ids: Sequence[str], marks: Mapping[str, Any]) -> bool:
        """Set agentkit's own keys on the stored assistant message that makes the calls `call_ids`
        (`_marked`); False when no such message is stored."""
        return await self._call(self._set_marks, (list(call_ids), dict(marks)))

    def _set_marks(self, db: sqlite3.Connection, arg: tuple[list[str], dict[str, Any]]) -> bool:
        call_ids, marks = arg
        db.execute("BEGIN IMMEDIATE")
        rows = db.execute("SELECT id, message FROM messages WHERE session_id = ? ORDER BY id", (self.session_id,))
        found = [(i, _decode(text, f"row {i}")) for i, text in rows]
        at = _find([m for _, m in found], call_ids)
        if at is not None:
            row, message = found[at]
            db.execute("UPDATE messages SET message = ? WHERE id = ?", (_encode(_marked(message, marks)), row))
        db.execute("COMMIT")
        return at is not None

    def _write(self, db: sqlite3.Connection, rows: list[tuple[str, str]]) -> None:
        # IMMEDIATE takes the write lock at once, so the rows get consecutive ids.
        # A failure before COMMIT adds nothing: closing the connection rolls the transaction back.
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO messages (session_id, message) VALUES (?, ?)", rows)
        db.execute("COMMIT")

    def _clear(self, db: sqlite3.Connection, _: Any) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM messages WHERE session_id = ?", (self.session_id,))
        db.execute("DELETE FROM claims WHERE session_id = ?", (self.session_id,))
        db.execute("COMMIT")

    def _claim(self, db: sqlite3.Connection, ids: list[str]) -> bool:
        # IMMEDIATE: the check and the claim are one step for every connection and process.
        db.execute("BEGIN IMMEDIATE")
        marks = ", ".join("?" * len(ids))
        key = (self.session_id, *ids)
        taken = db.execute(f"SELECT 1 FROM claims WHERE session_id = ? AND call_id IN ({marks})", key).fetchone()
        # An answer counts after the last assistant message holding the call: a model may have used its id before.
        taken = taken or any(db.execute(_ANSWERED, (self.session_id, i, self.session_id, i)).fetchone() for i in ids)
        if taken:
            db.execute("ROLLBACK")
            return False
        db.executemany("INSERT INTO claims (session_id, call_id) VALUES (?, ?)", [(self.session_id, i) for i in ids])
        db.execute("COMMIT")
        return True

    def _release(self, db: sqlite3.Connection, ids: list[str]) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("DELETE FROM claims WHERE session_id = ? AND call_id = ?", [(self.session_id, i) for i in ids])
        db.execute("COMMIT")


_ANSWERED = (
    "SELECT 1 FROM messages t WHERE t.session_id = ? AND json_extract(t.message, '$.role') = 'tool'"
    " AND json_extract(t.message, '$.tool_call_id') = ? AND t.id > (SELECT COALESCE(MAX(a.id), 0)"
    " FROM messages a, json_each(a.message, '$.tool_calls') c WHERE a.session_id = ?"
    " AND json_extract(a.message, '$.role') = 'assistant' AND json_extract(c.value, '$.id') = ?)"
)


def _create(db: sqlite3.Connection) -> None:
    # WAL is a property of the file: set once, it stays for every connection and process.
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS messages ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, message TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, id)")
    db.execute("CREATE TABLE IF NOT EXISTS claims (session_id TEXT NOT NULL, call_id TEXT NOT NULL,"
               " PRIMARY KEY (session_id, call_id))")  # fmt: skip


class _closing:
    """Closes a connection (sqlite3's own context manager only ends a transaction)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.close()


def _is_busy(error: sqlite3.OperationalError) -> bool:
    # SQLITE_BUSY and SQLITE_LOCKED both read "database (table) is locked".
    return "locked" in str(error)


def _decode(text: object, where: str) -> Message:
    """A stored row as a message; `SessionError` naming the row when it is not one (a torn or
    hand-edited row), so that it can be deleted."""
    try:
        message = json.loads(text) if isinstance(text, (str, bytes)) else None
    except ValueError:
        message = None
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        # What the row holds is not shown: a conversation may hold what no error message should.
        raise SessionError(f"{where} is not a message (a JSON object with a role)", messages=[])
    return message


def _find(messages: Sequence[Message], call_ids: Sequence[str]) -> int | None:
    """The index of the last assistant message that makes exactly the calls `call_ids`."""
    wanted = set(call_ids)
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.get("role") == "assistant" and {c.get("id") for c in m.get("tool_calls") or ()} == wanted:
            return i
    return None


def _marked(message: Message, marks: Mapping[str, Any]) -> Message:
    """`message` with agentkit's own keys in `marks` set (None: removed); other keys are never changed."""
    bad = [k for k in marks if not k.startswith("agentkit_")]
    if bad:
        raise UserError(f"only agentkit's own keys (agentkit_...) can be changed on a stored message, not {bad}")
    out = {k: v for k, v in message.items() if k not in marks}
    out.update({k: v for k, v in marks.items() if v is not None})
    return out


def _encode(message: Message) -> str:
    # ensure_ascii: any Python str (even a lone surrogate) survives as pure-ASCII JSON text.
    return json.dumps(message, ensure_ascii=True, allow_nan=False)


def _ids(call_ids: Sequence[str]) -> list[str]:
    if isinstance(call_ids, str) or not all(isinstance(i, str) and i for i in call_ids):
        raise UserError(f"call_ids must be a list of call ids (non-empty str), not {call_ids!r}")
    return list(dict.fromkeys(call_ids))  # an id given twice is claimed once


class RedisSession:
    """A `Session` in Redis (extra ``agentkit[redis]``: redis-py; asyncio only).

    A conversation is one Redis list, at key ``prefix + session_id``; a run's messages are
    appended with one ``RPUSH``, which Redis runs whole, so concurrent runs and processes never
    interleave. `ttl` (a whole number of seconds): the conversation expires that long after its
    last write. The claims on pending calls are a set at ``key + "\\0claims"`` (a session id
    has no NUL, so no conversation has that key). Each call opens its own connection, so one
    session object serves any event loop.
    """

    def __init__(
        self,
        session_id: str,
        *,
        url: str = "redis://localhost:6379/0",
        prefix: str = "agentkit:session:",
        ttl: int | None = None,
    ) -> None:
        if not isinstance(session_id, str) or not session_id or "\0" in session_id:
            raise UserError(f"session_id must be a non-empty str without NUL, not {session_id!r}")
        # Checked here: Redis would refuse the EXPIRE only after the RPUSH it goes with had applied.
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= _MAX_TTL):
            raise UserError(f"ttl must be None or a whole number of seconds from 1 to {_MAX_TTL}, not {ttl!r}")
        self.session_id = session_id
        self.url = url
        self.key = prefix + session_id
        self.claims_key = self.key + "\0claims"
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"RedisSession({self.session_id!r}, url={_without_password(self.url)!r})"

    def _client(self) -> Any:
        try:
            import redis.asyncio
        except ImportError as e:
            raise ImportError("RedisSession needs redis-py: pip install 'agentkit[redis]'") from e
        return redis.asyncio.Redis.from_url(self.url, decode_responses=True)

    async def get_messages(self, limit: int | None = None) -> list[Message]:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise UserError(f"limit must be None or a non-negative int, not {limit!r}")
        if limit == 0:
            return []
        async with self._client() as client:
            texts = await client.lrange(self.key, 0 if limit is None else -limit, -1)
        first = 0 if limit is None else -len(texts)
        return [_decode(text, f"session {self.session_id!r}: row {first + i} (LINDEX {self.key!r} {first + i})")
                for i, text in enumerate(texts)]  # fmt: skip

    async def add_messages(self, messages: Sequence[Message]) -> None:
        texts = [_encode(m) for m in messages]
        if not texts:
            return
        async with self._client() as client:
            if self.ttl is None:
                await client.rpush(self.key, *texts)
            else:
                async with client.pipeline(transaction=True) as pipe:  # MULTI ... EXEC
                    await pipe.rpush(self.key, *texts).expire(self.key, self.ttl).execute()

    async def clear(self) -> None:
        """Forget the conversation and its claims."""
        async with self._client() as client:
            await client.delete(self.key, self.claims_key)

    async def claim_calls(self, call_ids: Sequence[str]) -> bool:
        """Claim pending calls for one resume, atomically (a Lua script): all of them, when none
        is claimed or answered by a stored tool message (True), else none (False)."""
        if not call_ids:
            return True
        ids = _ids(call_ids)
        # What an answer to each call looks like in the stored JSON (`_encode`'s separators).
        answers = [f'"tool_call_id": {json.dumps(i)}' for i in ids]
        # A call in an assistant message: an answer stored before it was to another call of that id.
        asks = [f'"id": {json.dumps(i)}' for i in ids]
        async with self._client() as client:
            claimed = await client.eval(
                _CLAIM, 2, self.key, self.claims_key, self.ttl or "", len(ids), *ids, *answers, *asks
            )
        return bool(claimed)

    async def release_calls(self, call_ids: Sequence[str]) -> None:
        """Forget the claims on `call_ids` (a resume that died before storing their answers)."""
        if call_ids:
            async with self._client() as client:
                await client.srem(self.claims_key, *_ids(call_ids))

    async def set_marks(self, call_ids: Sequence[str], marks: Mapping[str, Any]) -> bool:
        """Set agentkit's own keys on the stored assistant message that makes the calls `call_ids`
        (`_marked`); False when no such message is stored. Only appends follow a stored
        message, so its index holds while it is rewritten (LSET)."""
        async with self._client() as client:
            texts = await client.lrange(self.key, 0, -1)
            at = _find([_decode(t, f"row {i}") for i, t in enumerate(texts)], call_ids)
            if at is None:
                return False
            await client.lset(self.key, at, _encode(_marked(_decode(texts[at], f"row {at}"), marks)))
        return True


_MAX_TTL = 10**12  # seconds; Redis refuses an expiry time past what its milliseconds can hold

# KEYS: the conversation, its claims. ARGV: the ttl ("" for none), n, n call ids, the n answers'
# JSON fragments, the n calls' JSON fragments (an answer before the last message with its call
# answers an earlier call of that id). Redis runs a script whole: no other client's command
# comes between its steps.
_CLAIM = """
local n = tonumber(ARGV[2])
for i = 3, n + 2 do
  if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 1 then return 0 end
end
local answered = {}
for _, text in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if string.find(text, '"role": "tool"', 1, true) then
    for i = n + 3, 2 * n + 2 do
      if string.find(text, ARGV[i], 1, true) then answered[i] = true end
    end
  elseif string.find(text, '"role": "assistant"', 1, true) then
    for i = 2 * n + 3, 3 * n + 2 do
      if string.find(text, ARGV[i], 1, true) then answered[i - n] = nil end
    end
  end
end
if next(answered) ~= nil then return 0 end
redis.call('SADD', KEYS[2], unpack(ARGV, 3, n + 2))
if ARGV[1] ~= '' then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return 1
"""


def _without_password(url: str) -> str:
    """`url` with its password (in the user part or the query) replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # not a URL that can be taken apart: nothing of it is shown
        return "***"
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if any(k == "password" for k, _ in pairs):
        query = urllib.parse.urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="*")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


# --- what a run sends: the history policy ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class History:
    """How much of the conversation a run sends to the model (all of it is still stored).

    The conversation is cut only at the start of a turn (a user message the caller gave, not
    one the run inserted: the images a tool returned, a typed-output retry), so an assistant's
    tool calls always travel with their tool messages and a question with all its run's
    messages; the system message is always sent, and so is the last turn (the one being
    answered), even when it alone is over `max_tokens`.
    """

    max_turns: int | None = None
    """Send at most the last `max_turns` turns (a turn: a caller's user message and all that follows it)."""
    max_tokens: int | None = None
    """Send the most recent turns whose messages fit in `max_tokens`, counted with
    `count_tokens`."""

    def __post_init__(self) -> None:
        for name in ("max_turns", "max_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise UserError(f"History.{name} must be None or a positive int, not {value!r}")


def count_tokens(message: Message, model: Any = None) -> int:
    """A message's size in tokens: its text (content, reasoning, tool calls) counted with the
    model's tokenizer when it has one (`LocalModel`), else estimated as one token per 4
    characters, rounded up; plus 4 for the message's framing (role and markers)."""
    parts: list[str] = []
    for key in ("content", "reasoning_content"):
        value = message.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif value is not None:  # content parts (text and images): their JSON text
            parts.append(json.dumps(value, ensure_ascii=False))
    for call in message.get("tool_calls") or ():
        function = call.get("function", {})
        parts.append(f"{function.get('name', '')} {function.get('arguments', '')}")
    text = "\n".join(parts)
    tokenizer = getattr(model, "tokenizer", None)
    encode = getattr(tokenizer, "encode", None)
    if callable(encode):
        return len(encode(text, add_special_tokens=False)) + 4
    return math.ceil(len(text) / 4) + 4


def fit(messages: list[Message], history: History | None, model: Any = None) -> list[Message]:
    """The messages to send under `history`: the system message, then the most recent whole
    turns that the policy allows (at least the last one). `messages` itself is not changed."""
    if history is None:
        return messages
    head = messages[:1] if messages and messages[0].get("role") == "system" else []
    body = messages[len(head) :]
    starts = [i for i, m in enumerate(body) if starts_turn(m)] or [0]  # where each turn starts
    starts[0] = 0  # messages before the first user message belong to the first turn
    # `keep`: the index (in `starts`) of the oldest turn that may be sent; the last turn always is.
    keep = 0 if history.max_turns is None else max(len(starts) - history.max_turns, 0)
    if history.max_tokens is not None:
        budget = history.max_tokens - sum(count_tokens(m, model) for m in head)
        used = sum(count_tokens(m, model) for m in body[starts[-1] :])
        oldest = len(starts) - 1
        while oldest > keep:
            end = starts[oldest]
            size = sum(count_tokens(m, model) for m in body[starts[oldest - 1] : end])
            if used + size > budget:
                break
            used += size
            oldest -= 1
        keep = oldest
    if keep == 0:
        return messages
    return [*head, *body[starts[keep] :]]
