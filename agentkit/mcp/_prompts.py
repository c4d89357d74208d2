"""Prompts a server offers: `prompt()` makes a function (sync or async) a prompt template whose
arguments are the function's parameters (strings); it returns the messages. Completion of an
argument offers the values of its `Literal` or `Enum` type that start with what was typed."""

from __future__ import annotations

import enum
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import anyio.to_thread
import docstring_parser
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CompleteResult,
    Completion,
    GetPromptResult,
    ListPromptsResult,
    PromptArgument,
    PromptMessage,
)
from mcp.types import Prompt as MCPPrompt

from ..exceptions import UserError
from ._content import Audio, EmbeddedResource, Image, block

__all__ = ["Prompt", "Prompts", "prompt"]

_MAX_COMPLETIONS = 100  # MCP's limit on the values of one completion


@dataclass(kw_only=True)
class Prompt:
    """A prompt template a server offers; made by `prompt`."""

    name: str
    """Its name, as clients list and get it."""
    function: Callable[..., Any] = field(repr=False)
    """What makes its messages: called with the arguments as keywords (strings)."""
    description: str = ""
    """What it is for."""
    arguments: list[PromptArgument] = field(default_factory=list)
    """Its arguments, as clients list them."""
    choices: dict[str, list[str]] = field(default_factory=dict)
    """The values an argument may take, where its type says (a `Literal` or an `Enum`)."""

    async def messages(self, arguments: dict[str, str]) -> list[PromptMessage]:
        if inspect.iscoroutinefunction(self.function):
            value = await self.function(**arguments)
        else:
            value = await anyio.to_thread.run_sync(lambda: self.function(**arguments), abandon_on_cancel=True)
        items = value if isinstance(value, list) else [value]
        return [_message(self.name, item) for item in items]


def _message(name: str, item: Any) -> PromptMessage:
    """A user message for a str, an `Image`, `Audio` or `EmbeddedResource`; a dict
    ``{"role": "user" | "assistant", "content": one of those}`` for a role of one's own."""
    role: Any = "user"
    if isinstance(item, dict):
        role, item = item.get("role"), item.get("content")
        if role not in ("user", "assistant"):
            raise TypeError(f"the prompt {name} gave a message with the role {role!r}: 'user' or 'assistant'")
    if not isinstance(item, (str, Image, Audio, EmbeddedResource)):
        raise TypeError(f"the prompt {name} gave {type(item).__name__}: a message is text, an Image, Audio "
                        "or an EmbeddedResource")  # fmt: skip
    return PromptMessage(role=role, content=block(item))


@overload
def prompt(function: Callable[..., Any], /) -> Prompt: ...
@overload
def prompt(*, name: str | None = None, description: str | None = None) -> Callable[[Callable[..., Any]], Prompt]: ...
def prompt(
    function: Callable[..., Any] | None = None, /, *, name: str | None = None, description: str | None = None
) -> Prompt | Callable[[Callable[..., Any]], Prompt]:
    """Make a function a prompt a server offers (bare, ``@prompt``, or ``@prompt(name=...)``).

    Its parameters are the prompt's arguments (a parameter without a default is required;
    described by the Google-style docstring's ``Args:``); MCP sends them as strings. It returns
    the messages: a str (one user message), an `Image`, `Audio` or `EmbeddedResource`, a dict
    ``{"role": "user" | "assistant", "content": ...}``, or a list of those. A parameter typed
    `Literal[...]` or an `Enum` of strings gets its values completed (``completion/complete``).
    """

    def decorate(fn: Callable[..., Any]) -> Prompt:
        doc = docstring_parser.parse(inspect.getdoc(fn) or "")
        described = {p.arg_name: p.description or "" for p in doc.params}
        hints = typing.get_type_hints(fn)
        arguments, choices = [], {}
        for pname, param in inspect.signature(fn).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise UserError(f"the prompt {fn.__name__}: *args and **kwargs cannot be prompt arguments")
            arguments.append(PromptArgument(name=pname, description=described.get(pname) or None,
                                            required=param.default is param.empty))  # fmt: skip
            values = _choices(hints.get(pname))
            if values:
                choices[pname] = values
        text = "\n\n".join(d for d in (doc.short_description, doc.long_description) if d)
        return Prompt(name=name or fn.__name__, function=fn, description=description or text,
                      arguments=arguments, choices=choices)  # fmt: skip

    return decorate(function) if function is not None else decorate


def _choices(hint: Any) -> list[str]:
    if typing.get_origin(hint) is Literal:
        return [str(v) for v in typing.get_args(hint)]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return [str(m.value) for m in hint]
    return []


class Prompts:
    """A server's prompts: listing them, getting one's messages, completing an argument."""

    def __init__(self, offered: Iterable[Prompt | Callable[..., Any]]) -> None:
        self.by_name: dict[str, Prompt] = {}
        for p in offered:
            p = p if isinstance(p, Prompt) else prompt(p)
            if p.name in self.by_name:
                raise UserError(f"two prompts are named {p.name!r}")
            self.by_name[p.name] = p

    def __bool__(self) -> bool:
        return bool(self.by_name)

    async def list(self, ctx: Any, params: Any) -> ListPromptsResult:
        return ListPromptsResult(prompts=[
            MCPPrompt(name=p.name, description=p.description or None, arguments=p.arguments)
            for p in self.by_name.values()
        ])  # fmt: skip

    async def get(self, ctx: Any, params: Any) -> GetPromptResult:
        found = self.by_name.get(params.name)
        if found is None:
            raise MCPError(code=INVALID_PARAMS, message=f"there is no prompt named {params.name!r}")
        given = dict(params.arguments or {})
        known = {a.name for a in found.arguments}
        missing = [a.name for a in found.arguments if a.required and a.name not in given]
        unknown = sorted(set(given) - known)
        if missing or unknown:
            problems = [f"missing required argument {m!r}" for m in missing]
            problems += [f"unknown argument {u!r}" for u in unknown]
            raise MCPError(code=INVALID_PARAMS, message=f"prompt {found.name}: " + "; ".join(problems))
        bad = [f"{k}={v!r} (one of {found.choices[k]})" for k, v in given.items()
               if k in found.choices and v not in found.choices[k]]  # fmt: skip
        if bad:
            raise MCPError(code=INVALID_PARAMS, message=f"prompt {found.name}: " + "; ".join(bad))
        try:
            messages = await found.messages(given)
        except Exception as e:
            raise MCPError(code=INTERNAL_ERROR, message=f"prompt {found.name} failed: {type(e).__name__}: {e}") from e
        return GetPromptResult(description=found.description or None, messages=messages)

    def complete(self, name: str, argument: str, typed: str) -> CompleteResult:
        """The values of a prompt's argument that start with `typed` (none where the type says nothing)."""
        found = self.by_name.get(name)
        values = [v for v in (found.choices.get(argument, []) if found else []) if v.startswith(typed)]
        return CompleteResult(completion=Completion(values=values[:_MAX_COMPLETIONS], total=len(values),
                                                    has_more=len(values) > _MAX_COMPLETIONS))  # fmt: skip
