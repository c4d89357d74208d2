"""agentkit's own data on a message: keys starting with ``agentkit_``.

They travel with the transcript (a run's `messages`, a session) and are never sent to a model
or server: `outgoing` takes them off at the one place every model call passes.
"""

from __future__ import annotations

from ._model import Message

__all__ = ["INSERTED", "inserted", "outgoing", "starts_turn"]

PREFIX = "agentkit_"
INSERTED = "agentkit_inserted"
"""On a user message the run wrote itself, not the caller: what it is for ("images", "output_retry")."""


def inserted(message: Message, why: str) -> Message:
    """`message` marked as written by the run itself."""
    return {**message, INSERTED: why}


def starts_turn(message: Message) -> bool:
    """Whether `message` starts a turn: a user message the caller gave (not one the run inserted)."""
    return message.get("role") == "user" and not message.get(INSERTED)


def _own(key: object) -> bool:
    return isinstance(key, str) and key.startswith(PREFIX)


def outgoing(messages: list[Message]) -> list[Message]:
    """`messages` as a model is sent them: without agentkit's own keys (a message that has
    none is passed as is; `messages` itself is not changed)."""
    return [{k: v for k, v in m.items() if not _own(k)} if any(_own(k) for k in m) else m for m in messages]
