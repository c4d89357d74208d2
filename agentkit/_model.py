"""The `Model` protocol both backends implement, and the data it exchanges."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from ._events import MalformedCall, ParseEvent, ToolCall
from ._messages import Message as Message
from ._messages import Usage as Usage
from ._tokens import TokenRecord
from .exceptions import UserError
from .formats._stream import ParsedOutput
from .tools import Tool

ToolSpec = Tool[Any, Any] | Mapping[str, Any]
"""A tool as a model takes it: a `Tool` or an OpenAI tools entry."""
ToolChoice = Literal["auto", "required", "none"] | str
"""``"auto"``, ``"required"``, ``"none"``, or the name of the one tool to call."""


@dataclass(frozen=True, kw_only=True)
class Sampling:
    """Sampling settings; None leaves a setting to the model or server default."""

    temperature: float | None = None
    """0 means greedy."""
    top_p: float | None = None
    """Nucleus sampling mass."""
    top_k: int | None = None
    """Sample among the k most likely tokens (sent only to servers that take it)."""
    min_p: float | None = None
    """Minimum probability relative to the top token (sent only to servers that take it)."""
    max_tokens: int | None = None
    """Most tokens to generate per model call."""
    seed: int | None = None
    """Makes sampling reproducible where the backend allows it (`LocalModel`: the same seed,
    prompt and options give the same tokens; see docs/trajectories.md). None: unseeded."""

    def merged(self, **overrides: Any) -> Sampling:
        """A copy with the non-None `overrides` applied."""
        values = {k: getattr(self, k) for k in ("temperature", "top_p", "top_k", "min_p", "max_tokens", "seed")}
        values.update({k: v for k, v in overrides.items() if k in values and v is not None})
        return Sampling(**values)


INTERN_S1 = Sampling(temperature=0.7, top_p=1.0, top_k=50, min_p=0.0)
"""The Intern-S1 guide's recommended sampling."""
INTERN_S1_MINI = Sampling(temperature=0.8, top_p=1.0, top_k=50, min_p=0.0)
"""The Intern-S1 guide's recommended sampling for Intern-S1-mini."""
INTERN_S1_PRO = Sampling(temperature=0.8, top_p=0.95, top_k=50, min_p=0.0)
"""The Intern-S1-Pro guide's recommended sampling."""
INTERN_S2_PREVIEW = Sampling(temperature=0.8, top_p=0.95, top_k=50, min_p=0.0)
"""The Intern-S2-Preview guide's recommended sampling."""


def default_sampling(model_id: str) -> Sampling:
    """The guide's preset for an Intern-S1 / S1-mini / S1-Pro / S2-Preview model id, else `Sampling()`."""
    name = model_id.lower().replace("_", "-")
    for marks, preset in (
        (("intern-s2-preview", "interns2-preview"), INTERN_S2_PREVIEW),
        (("intern-s1-pro", "interns1-pro"), INTERN_S1_PRO),
        (("intern-s1-mini", "interns1-mini"), INTERN_S1_MINI),
        (("intern-s1", "interns1"), INTERN_S1),
    ):
        if any(mark in name for mark in marks):
            return preset
    return Sampling()


@dataclass(kw_only=True)
class Completion:
    """One model response."""

    content: str = ""
    """Visible text."""
    reasoning: str | None = None
    """Thinking text, if the model thought."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Well-formed tool calls, in order, with unique ids."""
    errors: list[MalformedCall] = field(default_factory=list)
    """Tool-call blocks the model wrote that could not be read."""
    finish_reason: str | None = None
    """``"stop"``, ``"tool_calls"``, ``"length"``, ... as the backend reports it."""
    usage: Usage = field(default_factory=Usage)
    """Tokens of this call."""
    tokens: TokenRecord | None = None
    """The ids fed and generated, with the generated ids' logprobs: set by a backend that
    records, when the call was given ``record=`` (a recorded run's; see `Trajectory`)."""

    @classmethod
    def from_output(cls, out: ParsedOutput, *, usage: Usage, finish_reason: str | None = None) -> Completion:
        """A completion from parsed model text; `finish_reason` defaults to what the calls say."""
        return cls(
            content=out.content,
            reasoning=out.reasoning,
            tool_calls=out.tool_calls,
            errors=out.errors,
            finish_reason=finish_reason or ("tool_calls" if out.tool_calls else "stop"),
            usage=usage,
        )

    @property
    def message(self) -> Message:
        """The assistant message to append to the conversation."""
        msg: Message = {"role": "assistant", "content": self.content}
        if self.reasoning is not None:
            msg["reasoning_content"] = self.reasoning
        if self.tool_calls:
            msg["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        return msg


@dataclass(frozen=True, kw_only=True)
class CompletionDone:
    """Last event of a model stream."""

    completion: Completion
    """The whole response."""


ModelEvent = ParseEvent | CompletionDone
"""What `Model.stream` yields."""


@runtime_checkable
class Model(Protocol):
    """A chat model that can call tools: `LocalModel`, `RemoteModel`, or your own."""

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] | None = None,
        thinking: bool | None = None,
        tool_choice: ToolChoice | None = None,
        **options: Any,
    ) -> Completion:
        """One response to `messages`."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] | None = None,
        thinking: bool | None = None,
        tool_choice: ToolChoice | None = None,
        **options: Any,
    ) -> AsyncIterator[ModelEvent]:
        """The response as events, ending with `CompletionDone`."""
        ...


def check_options(backend: str, options: Mapping[str, Any], accepted: frozenset[str]) -> None:
    """Raise `UserError` naming any keyword in `options` that the backend does not take."""
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise UserError(f"{backend} takes no option {', '.join(map(repr, unknown))}; "
                        f"it takes {', '.join(sorted(accepted))}")  # fmt: skip


def tool_schemas(tools: Sequence[ToolSpec] | None) -> list[dict[str, Any]] | None:
    """OpenAI tools entries for `tools` (None when there are none)."""
    if not tools:
        return None
    return [t.schema if isinstance(t, Tool) else dict(t) for t in tools]


def unique_ids(calls: list[ToolCall], new_id: Any) -> list[ToolCall]:
    """Keep server ids that are present and unique; replace the others with fresh ones."""
    seen: set[str] = set()
    out = []
    for call in calls:
        if not call.id or call.id in seen:
            call = ToolCall(id=new_id(), name=call.name, arguments=call.arguments)
        seen.add(call.id)
        out.append(call)
    return out
