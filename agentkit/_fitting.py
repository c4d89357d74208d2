"""History fitting, a run capability: each model call is sent what `history=` allows of the
transcript (the transcript itself, stored and returned, keeps everything)."""

from __future__ import annotations

from ._capability import Capability, ModelRequest, RunState
from .sessions import History, fit

__all__ = ["Fitting"]


class Fitting(Capability):
    """Sends the system message and the most recent whole turns that `history` allows."""

    def __init__(self, history: History) -> None:
        self.history = history

    async def before_request(self, run: RunState, request: ModelRequest) -> None:
        request.messages = fit(request.messages, self.history, run.agent.model)
