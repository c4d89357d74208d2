"""Session storage, a run capability: the session's history goes before the input; the calls
that ran are stored before a retry could run them again; a resume claims its pending calls so
that two resumes never both run them; the run's new messages are stored when it ends."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio

from ._approvals import PENDING, SUBRUNS, last_assistant, settle, unanswered
from ._capability import Capability, Final, ModelRequest, ModelResponse, RunState, TurnEnd
from ._events import ToolCall
from ._messages import Message
from ._result import RunResult
from ._turn import ran_until
from .exceptions import ResumeConflictError, RunError, SessionError, UserError
from .sessions import Session

__all__ = ["Store"]

logger = logging.getLogger("agentkit")


def _refuse_repeat(stored: list[Message], given: list[Message]) -> None:
    """`UserError` if the input repeats the session's history (a transcript the run would put
    after itself): it holds a call the history holds, or begins with all of a history of two
    messages or more. A question asked again is not refused: it is one new message."""
    calls = {c.get("id") for m in stored if m.get("role") == "assistant" for c in m.get("tool_calls") or ()}
    again = sorted(str(c.get("id")) for m in given if m.get("role") == "assistant"
                   for c in m.get("tool_calls") or () if c.get("id") in calls)  # fmt: skip
    if again or (len(stored) >= 2 and given[: len(stored)] == stored):
        what = f"its calls {', '.join(again)}" if again else "all of its messages"
        raise UserError(
            f"the input repeats the session's stored conversation ({what}): with session=, the input is only "
            "the new messages (to resume a run that stopped for approval: run([], session=..., approvals=...)); "
            "or give the whole transcript without session="
        )


class Store(Capability):
    """What a run has stored in its session, and the pending calls it has claimed.

    A run's own messages are stored in one write when it ends, so that concurrent runs on one
    session never interleave. Two writes come earlier, because a retry would repeat a side
    effect: a resume's answers as soon as they exist, and, when a run fails in any way
    (cancellation included), its transcript up to the last calls that ran.
    """

    early_dispatch = True  # it looks at resumed responses only

    def __init__(self, session: Session) -> None:
        self.session = session
        self.messages: list[Message] = []
        """The run's transcript, as the loop builds it."""
        self.stored = 0
        """`messages[:stored]` are in the session (or are not the session's: the system message)."""
        self.input_end = 0
        """Where the run's input ends: the tool messages after it answer calls of this run."""
        self.claimed: list[str] = []
        """The pending calls this run has claimed and whose answers are not stored yet."""

    async def run_started(self, run: RunState) -> None:
        """The session's history goes before the input (after the system message): the session
        keeps no system message, the agent's own leads every run. Calls left behind by a
        conversation that went on are answered as not run, here in memory."""
        messages = run.messages
        head = messages[:1] if messages and messages[0].get("role") == "system" else []
        stored = [m for m in await self.session.get_messages() if m.get("role") != "system"]
        _refuse_repeat(stored, messages[len(head) :])
        joined = [*head, *stored, *messages[len(head) :]]
        first_new = joined[len(head) + len(stored)] if len(joined) > len(head) + len(stored) else None
        joined = settle(joined, run.options.approvals)
        # The answers put into the history are not the run's to store: the session keeps its rows.
        end = next(i for i, m in enumerate(joined) if m is first_new) if first_new is not None else len(joined)
        run.messages = self.messages = joined
        self.stored, self.input_end = end, len(joined)
        await self.settle_waiting(stored, end)

    async def after_response(self, run: RunState, response: ModelResponse) -> None:
        self._check(run)
        if response.resumed:  # before anything runs: another resume may be at this point too
            await self.claim(response.calls)

    async def before_request(self, run: RunState, request: ModelRequest) -> None:
        self._check(run)

    def _check(self, run: RunState) -> None:
        if run.messages is not self.messages:  # what it stores would no longer be what ran
            raise UserError("a run capability replaced run.messages: add messages to it instead")

    async def after_turn(self, run: RunState, turn: TurnEnd) -> Final | None:
        if turn.response.resumed:  # before the next model call: a retry must find them answered
            await self.save_answers()
            last = last_assistant(self.messages)
            if last.get(SUBRUNS):  # its calls are answered: nothing more to resume
                await self.remark(last, {PENDING: None, SUBRUNS: None})
        return None

    async def remark(self, message: Message, marks: dict[str, Any]) -> None:
        """Set agentkit's own keys on `message` where the session keeps it (`Session.set_marks`,
        when the session has one): a session otherwise only appends. A message not stored yet is
        stored whole, later."""
        if not any(m is message for m in self.messages[: self.stored]):
            return
        set_marks = getattr(self.session, "set_marks", None)
        ids = [str(c.get("id")) for c in message.get("tool_calls") or ()]
        if (set_marks is None or not await set_marks(ids, marks)) and marks.get(SUBRUNS):
            # The sub-run's new stop would be lost, and a resume from the old one would run its calls again.
            raise SessionError("a sub-agent stopped for approval again, and the session cannot store that (it has "
                               "no set_marks): resume from this error's messages, without session=",
                               messages=list(self.messages))  # fmt: skip

    async def run_finished(self, run: RunState, result: RunResult[Any]) -> None:
        await self.finish(result)

    async def claim(self, calls: Sequence[ToolCall], *, by: str = "a resume") -> None:
        """Claim a resume's pending calls (or those a new message answers: `by`), when the session
        can (``claim_calls``); raise `ResumeConflictError` when another run has claimed or answered them."""
        claim = getattr(self.session, "claim_calls", None)
        if claim is None or not calls:
            return
        ids = list(dict.fromkeys(c.id for c in calls))
        try:
            claimed = await claim(ids)
        except Exception as e:
            raise SessionError(f"the session could not claim the pending calls {', '.join(ids)} (nothing ran): "
                               f"{type(e).__name__}: {e}", messages=[]) from e  # fmt: skip
        if not claimed:
            raise ResumeConflictError(
                f"{by} could not answer the pending calls {', '.join(ids)}: another run of this session "
                "claimed or answered them first (a resume, which is running them or stopped before storing "
                "their answers: then they may have run). Nothing ran here, nothing was stored. If no run is "
                f"working on them, `await session.release_calls({ids!r})` makes them pending again: resume "
                "then with a decision (deny, with a reason, a call that may have run)",
                calls=ids,
            )
        self.claimed = ids

    async def settle_waiting(self, stored: list[Message], end: int) -> None:
        """A new message that answers calls the session left waiting (a new question denies them)
        claims them as a resume would, and stores those answers at once: one answer per call,
        however many runs of the session race."""
        given = self.messages[end:]
        waiting = {c.id: c for c in unanswered(stored)}
        count = 0
        while count < len(given) and given[count].get("role") == "tool" and given[count].get("tool_call_id") in waiting:
            count += 1
        if not count:
            return
        await self.claim([waiting[str(m.get("tool_call_id"))] for m in given[:count]], by="a new message")
        try:
            await self._save(self.messages, end + count)
        except Exception as e:
            release = getattr(self.session, "release_calls", None)
            if release is not None:
                with anyio.CancelScope(shield=True):
                    await release(self.claimed)
            raise SessionError(f"the session could not store the answers to its waiting calls (nothing ran): "
                               f"{type(e).__name__}: {e}", messages=[]) from e  # fmt: skip

    async def save_answers(self) -> None:
        """Store a resume's answers now, before the next model call. A failure here is not the
        run's: its end stores them, and until they are stored the claim keeps other resumes off."""
        try:
            await self._save(self.messages, len(self.messages))
        except Exception as e:
            logger.warning("the session could not store the answers of %s now: %s: %s",
                           ", ".join(self.claimed), type(e).__name__, e)  # fmt: skip

    async def finish(self, result: RunResult[Any]) -> None:
        """A run's end: store its new messages; raise `SessionError` (with the result) if the
        session fails."""
        try:
            await self._save(result.messages, len(result.messages))
            if result.pending and self.claimed:  # it stopped again: what it claimed waits again
                await self.remark_held(result)
        except SessionError:
            raise
        except Exception as e:
            raise SessionError(
                f"the run finished, but the session could not store its messages: {type(e).__name__}: {e}",
                messages=result.messages,
                result=result,
            ) from e

    async def remark_held(self, result: RunResult[Any]) -> None:
        """A resume that stopped again (a sub-agent's next approval): its message's new marks are
        stored and its claims released, so that the next resume finds the new stop."""
        last = last_assistant(result.messages)
        ids, self.claimed = self.claimed, []
        try:
            await self.remark(last, {PENDING: last.get(PENDING), SUBRUNS: last.get(SUBRUNS)})
        finally:
            release = getattr(self.session, "release_calls", None)
            if release is not None:
                await release(ids)

    async def run_failed(self, run: RunState, error: BaseException) -> None:
        """Store the transcript up to its last answered calls (raise `SessionError` if that fails)."""
        if isinstance(error, SessionError) or not self.messages:  # not opened: nothing ran
            return
        messages = self.messages
        if isinstance(error, RunError) and error.messages[: len(messages)] == messages:
            messages = error.messages  # the live transcript, and the calls that ran before the failure
        elif run.current is not None:  # a turn whose calls are not all answered: keep those that ran
            # A resume's claimed calls are answered even when none finished: they started.
            messages = [*messages, *run.current.unfinished(messages, claimed=bool(self.claimed))]
        try:
            await self._save(messages, ran_until(messages, self.input_end))
        except Exception as e:
            if not isinstance(error, Exception):  # a cancellation stays one
                logger.warning("the session could not store the calls that ran: %s: %s", type(e).__name__, e)
                return
            raise SessionError(
                f"the run failed ({type(error).__name__}: {error}), and the session could not store the "
                f"calls that ran ({type(e).__name__}: {e}): a retry from the session would run them again",
                messages=messages,
            ) from e

    async def _save(self, messages: list[Message], end: int) -> None:
        """Add `messages[stored:end]` (not cancelled half way), then drop the claims they answer."""
        if end <= self.stored:
            return
        with anyio.CancelScope(shield=True):
            await self.session.add_messages(messages[self.stored : end])
            self.stored = end
            release = getattr(self.session, "release_calls", None)
            if self.claimed and release is not None:
                ids, self.claimed = self.claimed, []
                try:
                    await release(ids)
                except Exception as e:  # answered calls cannot be claimed again: the claims are only litter
                    logger.warning("the session could not release the claims on %s: %s", ", ".join(ids), e)
