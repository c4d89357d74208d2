"""``record=True``: the run's exact tokens (`RunResult.trajectory`), token-in/token-out.

Each model call is given the run's token sequence so far (`TokenRequest`): the backend feeds
exactly those tokens, extended by the tokens of the messages added since (tool results and the
chat template's text around them), and answers with what it fed and generated (`TokenRecord`).
Nothing is rendered twice, so the trajectory is the sequence the model really saw — never a
re-rendering that a chat template would make differently (dropped reasoning, re-serialised
arguments). A sub-run (`Agent.as_tool`) is its own conversation: the caller's trajectory holds
the caller's model calls only (the sub-run's tool result is fed back like any other).
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio

from ._capability import Capability, ModelRequest, ModelResponse, RunState
from ._result import RunResult
from ._tokens import TokenRequest
from ._trajectory import Trajectory
from .exceptions import ModelError, UserError

__all__ = ["Recording", "can_record"]


def can_record(model: Any) -> bool:
    """Whether `model` records tokens (its ``records`` attribute is True: `LocalModel`, a
    `RemoteModel` given a tokenizer)."""
    return getattr(model, "records", False) is True


class Recording(Capability):
    """Builds a run's `Trajectory` from its model calls' `TokenRecord`s."""

    early_dispatch = True  # it only observes responses

    def __init__(self) -> None:
        self.trajectory = Trajectory()
        self.model: Any = None  # the model whose tokens these are
        self.last: Any = None  # the model's last response, as the transcript holds it
        self.shown: set[Any] = set()  # the names of the tools the first prompt rendered
        self.calls = 0

    def for_run(self, run: RunState) -> Capability:
        return Recording()

    async def run_started(self, run: RunState) -> None:
        self._check(run)
        check = getattr(run.agent.model, "check_recording", None)
        if callable(check):  # a template that cannot continue fails now, not after the first call's tools ran
            await anyio.to_thread.run_sync(check)

    async def before_request(self, run: RunState, request: ModelRequest) -> None:
        self._check(run)
        model = run.agent.model
        if self.model is not None and model is not self.model:
            # Another model's tokenizer and weights: one sequence cannot hold both.
            raise UserError("record=True: a handoff to an agent with another model cannot continue the recorded tokens")
        self.model = model
        names = {getattr(tool, "name", None) for tool in request.options.get("tools") or ()}
        if not self.calls:
            self.shown = names
        elif unseen := sorted(str(n) for n in names - self.shown):
            # The tools are rendered once, into the first prompt: a tool added later (a handoff's
            # target's) would be called blind by the recorded model, unlike by an unrecorded run.
            raise UserError(f"record=True: the tools {unseen} were not in the run's first prompt, and a recorded "
                            "run renders its tools only there; give the first agent these tools too")  # fmt: skip
        t = self.trajectory
        ids = [*t.prompt_ids, *t.response_ids] if self.calls else []
        request.options["record"] = TokenRequest(ids=ids, seen=self._seen(request.messages) if self.calls else 0)

    async def after_response(self, run: RunState, response: ModelResponse) -> None:
        completion = response.completion
        if completion is None:  # a resumed run's waiting calls: no model call
            return
        tokens = completion.tokens
        if tokens is None:
            raise ModelError(f"{type(self.model).__name__} was asked to record but returned no tokens")
        t = self.trajectory
        if self.calls == 0:
            t.prompt_ids = list(tokens.prompt_ids)
        else:
            before = len(t.prompt_ids) + len(t.response_ids)
            if tokens.prompt_ids[:before] != [*t.prompt_ids, *t.response_ids]:
                raise ModelError(f"{type(self.model).__name__} did not continue the recorded tokens")
            fed = tokens.prompt_ids[before:]
            t.response_ids += fed
            t.response_mask += [0] * len(fed)
            t.response_logprobs += [0.0] * len(fed)
        if len(tokens.logprobs) != len(tokens.output_ids):
            raise ModelError(f"{type(self.model).__name__} returned {len(tokens.output_ids)} tokens but "
                             f"{len(tokens.logprobs)} logprobs")  # fmt: skip
        t.turn_starts.append(len(t.response_ids))
        t.response_ids += tokens.output_ids
        t.response_mask += [1] * len(tokens.output_ids)
        t.response_logprobs += [float(x) for x in tokens.logprobs]
        t.finish_reasons.append(completion.finish_reason or "stop")
        self.calls += 1
        self.last = response.message

    def _seen(self, messages: list[Any]) -> int:
        """How many of `messages` the recorded tokens already hold: those up to the model's last
        response. Found in the request itself, not counted from the last one: a capability may
        add a message to each request, trim earlier ones, or (a handoff) swap the system prompt,
        and only what follows the response is new to the model."""
        for found in (lambda m: m is self.last, lambda m: m == self.last):
            for i in range(len(messages) - 1, -1, -1):
                if found(messages[i]):
                    return i + 1
        raise UserError("record=True: a capability removed the model's last response from the request, so the "
                        "recorded tokens cannot tell which messages are new to the model")  # fmt: skip

    async def run_finished(self, run: RunState, result: RunResult[Any]) -> None:
        result.trajectory = self.trajectory

    async def run_failed(self, run: RunState, error: BaseException) -> None:
        # A run stopped by a limit, a capability or a cancellation keeps the tokens of its calls
        # (RL keeps truncated rollouts): on any error, as `.trajectory` (RunError declares it).
        if self.calls:
            with contextlib.suppress(AttributeError):  # an exception type that takes no attributes
                error.trajectory = self.trajectory  # type: ignore[attr-defined]

    def _check(self, run: RunState) -> None:
        model = run.agent.model
        if not can_record(model):
            how = " (give it tokenizer=)" if type(model).__name__ == "RemoteModel" else ""
            raise UserError(f"record=True: {type(model).__name__} cannot record token ids and logprobs{how}; "
                            "LocalModel and RemoteModel(..., tokenizer=...) can")  # fmt: skip
        if run.options.history is not None:
            raise UserError("record=True cannot be combined with history=: a recorded run sends the model every token")
