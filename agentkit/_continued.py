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

__all__ = ["KeepRaw", "check_continues", "check_tokenizer", "continued_ids", "logprob_of", "stand_in_ids"]

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

    The new turns' tokens, and the template's text after a turn's stop token (``"\\n"`` after
    ``<|im_end|>``), are cut from the stand-in rendered with `new` after it, after the stand-in
    assistant turn's stop token: a template may render that turn differently when it is the last
    one (Qwen3 gives the last assistant turn an empty think block), so the stand-in alone is only
    used to count the stop tokens up to its end. A response that ended without a stop token (cut
    at ``max_tokens``) gets the template's stop token first, so that each turn is closed as the
    template closes it.
    """
    base = render(_STAND_IN, False) if base is None else base
    full = render([*_STAND_IN, *new], True)
    closing = sum(t in stops for t in base)  # the stand-in assistant's stop token is the last of these
    ends = [i for i, t in enumerate(full) if t in stops]
    if closing:
        if len(ends) < closing:
            raise UserError(_CANNOT)
        cut = ends[closing - 1]  # the stand-in assistant turn's stop token in `full`
        return [*ids, *full[cut + 1 if ids and ids[-1] in stops else cut :]]
    # A template that closes no turn with a stop token: the stand-in must render alike either way.
    if full[: len(base)] != base:
        raise UserError(_CANNOT)
    return [*ids, *full[len(base) :]]


_CANNOT = (
    "record=True: this chat template closes the assistant's turn differently when messages follow it, "
    "so the new messages' tokens cannot be appended to the recorded ones"
)


def stand_in_ids(render: Callable[[list[Message], bool], list[int]]) -> list[int]:
    """The stand-in conversation's tokens (the same for every call with the same tools and thinking)."""
    return render(_STAND_IN, False)


def check_continues(render: Callable[[list[Message], bool], list[int]], stops: Collection[int]) -> None:
    """A UserError now, before any model call, when `render`'s template cannot continue a recorded
    run: the stand-in followed by a user message. (Not a tool message: some templates refuse one
    after an assistant turn without calls, as the stand-in's is; a run's real tool turns come after calls.)"""
    new: list[Message] = [{"role": "user", "content": "x"}]
    try:
        continued_ids(render, [], new, stops)
    except UserError:
        raise
    except Exception as e:  # the template itself refuses the conversation
        raise UserError(f"record=True: this chat template cannot render a recorded run's new messages ({e})") from e


def check_tokenizer(tokenizer: Any, stops: Collection[int]) -> None:
    """`check_continues` with `tokenizer`'s own chat template (no tools: a run's tools go into the
    system turn, before the stand-in's assistant turn)."""

    def render(conversation: list[Message], generation_prompt: bool) -> list[int]:
        out = tokenizer.apply_chat_template(conversation, add_generation_prompt=generation_prompt, tokenize=True,
                                            return_dict=True)  # fmt: skip
        return [int(t) for t in out["input_ids"]]

    check_continues(render, stops)


def logprob_of(logits: Any, token: int) -> float:
    """`token`'s log-probability under one position's raw `logits` (float32, before any processor)."""
    import torch

    return float(torch.log_softmax(logits.reshape(-1).float(), dim=-1)[token])


class KeepRaw:
    """A logits processor that passes on a copy: the processors after it (a grammar's, which
    mask in place) leave the raw logits that a recorded call's logprobs are read from intact."""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        return scores.clone()
