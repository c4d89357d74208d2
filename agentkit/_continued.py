"""Token-in/token-out for a recorded run (``record=True``): the tokens that continue a sequence.

The messages added since the model's last response (tool results, a capability's user message)
are rendered on their own, after a fixed stand-in conversation, and only their tokens are
appended to the run's sequence: the earlier turns are never rendered again (a template may
render them differently from what the model saw: dropped reasoning, re-serialised arguments).
verl's agent loop and SkyRL compute a tool turn's tokens the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from ._messages import Message
from .exceptions import UserError

__all__ = ["KeepRaw", "continued_ids", "logprob_of", "stand_in_ids"]

# The stand-in the new messages are rendered after: it ends with an assistant turn, as the run's
# sequence does, so the template's text that closes that turn is known too.
_STAND_IN: list[Message] = [
    {"role": "system", "content": "x"},
    {"role": "user", "content": "x"},
    {"role": "assistant", "content": "x"},
]


def continued_ids(
    render: Callable[[list[Message], bool], list[int]],
    ids: Sequence[int],
    new: list[Message],
    stops: Collection[int],
    base: list[int] | None = None,
) -> list[int]:
    """`ids` (the run's tokens, ending with the model's last response) followed by the tokens of
    `new` and the generation prompt. `render(messages, add_generation_prompt)` is the chat
    template, tokenized, with the call's tools and thinking; `stops` the model's stop tokens;
    `base` the stand-in's tokens when the caller keeps them (`stand_in_ids`).

    The template's text after a turn's stop token (``"\\n"`` after ``<|im_end|>``) is taken from
    the stand-in; a response that ended without a stop token (cut at ``max_tokens``) gets the
    template's stop token first, so that each turn is closed as the template closes it.
    """
    base = render(_STAND_IN, False) if base is None else base
    full = render([*_STAND_IN, *new], True)
    if full[: len(base)] != base:
        raise UserError(
            "record=True: this chat template renders earlier turns differently when messages follow "
            "them, so the new messages' tokens cannot be appended to the recorded ones"
        )
    ends = [i for i, t in enumerate(base) if t in stops]
    close: list[int] = []
    if ends:  # the stand-in assistant turn's own stop token, and the template's text after it
        last = ends[-1]
        close = base[last + 1 :] if ids and ids[-1] in stops else base[last:]
    return [*ids, *close, *full[len(base) :]]


def stand_in_ids(render: Callable[[list[Message], bool], list[int]]) -> list[int]:
    """The stand-in conversation's tokens (the same for every call with the same tools and thinking)."""
    return render(_STAND_IN, False)


def logprob_of(logits: Any, token: int) -> float:
    """`token`'s log-probability under one position's raw `logits` (float32, before any processor)."""
    import torch

    return float(torch.log_softmax(logits.reshape(-1).float(), dim=-1)[token])


class KeepRaw:
    """A logits processor that passes on a copy: the processors after it (a grammar's, which
    mask in place) leave the raw logits that a recorded call's logprobs are read from intact."""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        return scores.clone()
