"""What a recorded run and its backend exchange: the token sequence so far, and one call's tokens.

`Recording` (``_recording.py``) sends a `TokenRequest` to the model as the ``record`` keyword of
`complete`/`stream`; a backend that records (``records = True``) answers with a `TokenRecord` on
`Completion.tokens`. A model that ignores both is never given them: ``record=True`` on it fails first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TokenRecord", "TokenRequest"]


@dataclass(frozen=True, kw_only=True)
class TokenRequest:
    """The ``record`` keyword of a model call in a recorded run."""

    ids: list[int] = field(default_factory=list)
    """Every token of the run so far (the first prompt, then the response): the next prompt
    starts with exactly these. Empty for the run's first call, which renders the messages."""
    seen: int = 0
    """How many of the call's messages `ids` already holds: those up to the model's last response
    in this request (a capability may have changed the messages before it; those stay as the
    model saw them). Only the messages after them are rendered, as tokens appended to `ids`."""


@dataclass(frozen=True, kw_only=True)
class TokenRecord:
    """One model call's tokens, as the backend fed and produced them."""

    prompt_ids: list[int]
    """The whole prompt the model was fed (`TokenRequest.ids`, then the new messages' tokens)."""
    output_ids: list[int]
    """The generated tokens, the stop token included."""
    logprobs: list[float]
    """Each generated token's log-probability under the raw logits (before temperature, top-k,
    top-p and logits processors); as long as `output_ids`."""
