"""What an MCP server may ask of the client: a model's answer (sampling), a person's answer
(elicitation), the roots, and where its log messages go.

Everything a server sends here is untrusted: its messages go to the model as data, its schema is
checked with agentkit's own validator (no fetch, no backtracking), its log text is an argument of
a log record (never a format string) and is cut to `MAX_LOG_CHARS`.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
import referencing.exceptions

from .. import _validation
from .._capability import RunState
from .._model import Message, Model, Usage
from ..exceptions import UsageLimitExceeded
from ._untrusted import sanitise

try:
    from mcp.types import (
        INTERNAL_ERROR,
        INVALID_PARAMS,
        INVALID_REQUEST,
        AudioContent,
        CreateMessageRequestParams,
        CreateMessageResult,
        ElicitRequestFormParams,
        ElicitRequestParams,
        ElicitResult,
        ErrorData,
        ImageContent,
        ListRootsResult,
        LoggingMessageNotificationParams,
        Root,
        TextContent,
    )
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

__all__ = ["MAX_LOG_CHARS", "Asking", "Elicit", "SamplingApproval", "root_uri"]

server_logger = logging.getLogger("agentkit.mcp")
logger = logging.getLogger("agentkit")

SAMPLING_MAX_TOKENS = 4096
"""The most tokens a sampling request may have the model write (the server's ``maxTokens`` is capped)."""

MAX_LOG_CHARS = 2_000
"""The most characters of one server log message that reach Python logging."""

Elicit = Callable[[str, dict[str, Any]], "Awaitable[dict[str, Any] | None] | dict[str, Any] | None"]
"""``elicit(message, schema)`` (async, or sync): the person's answer (a dict), or None to decline."""
SamplingApproval = Callable[[dict[str, Any]], "bool | str | Awaitable[bool | str]"]
"""``approval(request)`` (sync or async), `request` being ``{"messages": [...], "max_tokens": n}``:
True lets the model answer; False or a reason (a str) refuses the request."""

_LEVELS = {
    "debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO, "warning": logging.WARNING,
    "error": logging.ERROR, "critical": logging.CRITICAL, "alert": logging.CRITICAL, "emergency": logging.CRITICAL,
}  # fmt: skip


def root_uri(root: str | os.PathLike[str]) -> str:
    """A root as the server gets it: a ``file://`` URI as given, a path made absolute and a URI."""
    text = os.fspath(root)
    if text.startswith("file://"):
        return text
    if "://" in text:
        raise ValueError(f"a root is a path or a file:// URI, not {text!r}")
    return Path(text).resolve().as_uri()


def log_level() -> Any:
    """The MCP log level that matches the ``agentkit.mcp`` logger's (what would be shown at all)."""
    level = server_logger.getEffectiveLevel()
    for name in ("debug", "info", "warning", "error"):
        if _LEVELS[name] >= level:
            return name
    return "critical"


@dataclass(kw_only=True)
class Asking:
    """A toolset's answers to its server's requests (one per toolset, shared by its connections)."""

    where: str
    """The toolset, as its repr says it (for logs)."""
    sampling: Model | None = None
    """The model that answers sampling requests (None: not advertised, refused)."""
    sampling_approval: SamplingApproval | None = None
    """Asked before each sampling request is answered (None: not asked)."""
    elicit: Elicit | None = None
    """The person (or function) that answers elicitations (None: not advertised)."""
    declines: bool = False
    """Whether `elicit=None` was given: elicitations are advertised and declined."""
    roots: list[str] = field(default_factory=list)
    """The roots, as ``file://`` URIs."""
    offers_roots: bool = False
    """Whether `roots=` was given (the capability is advertised)."""
    usage: Usage = field(default_factory=Usage)
    """Every sampling request answered, in runs or not."""
    max_tokens: int | None = SAMPLING_MAX_TOKENS
    """The most tokens one sampling request may have the model write, whatever the server asks (None: the
    server's ``maxTokens``, within the run's limits)."""
    max_image_bytes: int | None = None
    """The largest image (decoded) a sampling request may send the model (None: no bound)."""
    max_images: int | None = None
    """The most images one sampling request may send the model (None: no bound)."""

    def callbacks(self, current_runs: Callable[[], list[RunState] | Literal[False]]) -> dict[str, Any]:
        """The SDK client's keyword arguments for what is offered; `current_runs()` are the runs
        with a call in flight on the connection ([]: only calls outside any run; False: no call)."""

        async def sampling(context: Any, params: CreateMessageRequestParams) -> CreateMessageResult | ErrorData:
            return await self.sample(params, current_runs())

        async def elicitation(context: Any, params: ElicitRequestParams) -> ElicitResult | ErrorData:
            if current_runs() is False:  # a person is asked only during a call, not at a server's whim
                logger.warning(
                    "%s asked for an elicitation while none of its calls was in flight: declined", self.where
                )
                return ElicitResult(action="decline")
            return await self.answer(params)

        async def list_roots(context: Any) -> ListRootsResult:
            return ListRootsResult(roots=[Root(uri=uri) for uri in self.roots])  # type: ignore[arg-type]

        options: dict[str, Any] = {"logging_callback": _RateLimited(self.log, self.where)}
        if self.sampling is not None:
            options["sampling_callback"] = sampling
        if self.elicit is not None or self.declines:
            options["elicitation_callback"] = elicitation
        if self.offers_roots:
            options["list_roots_callback"] = list_roots
        return options

    # --- sampling --------------------------------------------------------------------------------

    async def sample(
        self, params: CreateMessageRequestParams, runs: list[RunState] | Literal[False]
    ) -> CreateMessageResult | ErrorData:
        """Answer ``sampling/createMessage`` with the sampling model, within the limits of every run in
        `runs` (the strictest wins) and counted in each; refused when no call is in flight (`runs`
        False): a server may not spend the model of its own accord."""
        assert self.sampling is not None
        if runs is False:
            logger.warning("%s asked for sampling while none of its calls was in flight: refused", self.where)
            return ErrorData(code=INVALID_REQUEST, message="the client takes sampling requests only during its calls")
        messages = sampling_messages(params, self.max_image_bytes, self.max_images)
        if isinstance(messages, ErrorData):
            return messages
        caps = [self.max_tokens] if self.max_tokens is not None else []
        max_tokens = min([params.max_tokens, *caps, *(_left_to_write(run) for run in runs)])
        if max_tokens < 1:
            return ErrorData(code=INVALID_REQUEST, message="the client's run has no output tokens left to sample with")
        if self.sampling_approval is not None:
            try:
                verdict: Any = self.sampling_approval({"messages": messages, "max_tokens": max_tokens})
                if inspect.isawaitable(verdict):
                    verdict = await verdict
            except Exception as e:
                logger.warning(
                    "%s: the sampling approval raised %s; the request is refused", self.where, type(e).__name__
                )
                return ErrorData(code=INVALID_REQUEST, message="the client's sampling approval failed")
            if verdict is not True:
                reason = verdict if isinstance(verdict, str) and verdict else "denied"
                return ErrorData(code=INVALID_REQUEST, message=f"the client refused the sampling request: {reason}")
        for run in runs:
            if run.options.usage_limits is not None:
                try:
                    run.options.usage_limits.check_request(run.usage, [])
                except UsageLimitExceeded as e:
                    return ErrorData(code=INVALID_REQUEST, message=f"the client's run refuses more model calls: {e}")
        options: dict[str, Any] = {"max_tokens": max_tokens}
        if params.temperature is not None:
            options["temperature"] = params.temperature
        try:
            completion = await self.sampling.complete(messages, **options)
        except Exception as e:
            logger.warning("%s: the sampling model failed (%s)", self.where, type(e).__name__)
            return ErrorData(code=INTERNAL_ERROR, message=f"the client's model failed: {type(e).__name__}")
        used = completion.usage + Usage(requests=1)
        self.usage = self.usage + used
        for run in runs:  # counted in each run (and its callers), but not as one of its turns
            run.spend(used)
            run.delegated = run.delegated + used
        stop = "maxTokens" if completion.finish_reason == "length" else "endTurn"
        return CreateMessageResult(
            role="assistant",
            content=TextContent(text=completion.content or ""),
            model=_model_name(self.sampling),
            stop_reason=stop,
        )

    # --- elicitation -----------------------------------------------------------------------------

    async def answer(self, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        """Answer ``elicitation/create``: a form goes to `elicit`; a URL is declined (never opened)."""
        if not isinstance(params, ElicitRequestFormParams) or self.elicit is None:
            return ElicitResult(action="decline")
        schema = dict(params.requested_schema)
        try:  # before anyone is asked, and off the event loop: the schema is the server's
            checker = await anyio.to_thread.run_sync(form_checker, schema)
        except _validation.SchemaProblem as e:
            return self._refused(f"the requested schema cannot be checked, so nobody was asked: {e}")
        try:
            given: Any = self.elicit(params.message, schema)
            if inspect.isawaitable(given):  # an async function, as documented; a sync one works too
                given = await given
        except Exception as e:
            logger.warning("%s: elicit raised %s; the elicitation is cancelled", self.where, type(e).__name__)
            return ElicitResult(action="cancel")
        if given is None:
            return ElicitResult(action="decline")
        if not isinstance(given, dict):
            return self._refused(f"elicit returned {type(given).__name__}, not a dict or None")
        content = with_defaults(given, schema)
        problem = await anyio.to_thread.run_sync(answer_problem, content, checker)
        if problem is not None:
            return self._refused(f"the answer does not match the requested schema: {problem}")
        return ElicitResult(action="accept", content=content)

    def _refused(self, problem: str) -> ErrorData:
        logger.warning("%s: %s", self.where, problem)
        return ErrorData(code=INVALID_PARAMS, message=problem)

    # --- logging ---------------------------------------------------------------------------------

    async def log(self, params: LoggingMessageNotificationParams) -> None:
        """A server log message, as a record of the ``agentkit.mcp`` logger at the matching level."""
        data = params.data if isinstance(params.data, str) else json.dumps(params.data, ensure_ascii=False, default=str)
        name = f" ({sanitise(params.logger, 200)})" if params.logger else ""
        level = _LEVELS.get(params.level, logging.INFO)
        server_logger.log(level, "%s%s: %s", self.where, name, sanitise(data, MAX_LOG_CHARS))


LOG_BURST = 100
"""Server log messages one connection may send at once before they are dropped."""
LOG_RATE = 20.0
"""Server log messages per second one connection may send, on average, once its burst is spent."""


class _RateLimited:
    """One connection's log callback: a token bucket, so that a server's flood of log messages cannot fill the
    client's logs; what was dropped is counted in a warning once messages pass again."""

    def __init__(self, log: Callable[[LoggingMessageNotificationParams], Awaitable[None]], where: str) -> None:
        self.log, self.where = log, where
        self.tokens, self.at, self.dropped = float(LOG_BURST), time.monotonic(), 0

    async def __call__(self, params: LoggingMessageNotificationParams) -> None:
        now = time.monotonic()
        self.tokens, self.at = min(float(LOG_BURST), self.tokens + (now - self.at) * LOG_RATE), now
        if self.tokens < 1:
            if not self.dropped:
                logger.warning("%s sends log messages too fast: some are dropped", self.where)
            self.dropped += 1
            return
        self.tokens -= 1
        if self.dropped:
            logger.warning("%s sent log messages too fast: %d were dropped", self.where, self.dropped)
            self.dropped = 0
        await self.log(params)


def _left_to_write(run: RunState) -> int:
    """The output tokens `run`'s limits leave (a large number when they set none)."""
    limits, used = run.options.usage_limits, run.usage
    left = sys.maxsize
    if limits is not None and limits.max_output_tokens is not None:
        left = min(left, limits.max_output_tokens - used.completion_tokens)
    if limits is not None and limits.max_total_tokens is not None:
        left = min(left, limits.max_total_tokens - used.total_tokens)
    return left


def _decoded_size(data: str, kind: str) -> int | ErrorData:
    """How many bytes base64 `data` holds; an error for the server when it is not base64."""
    try:
        return len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return ErrorData(code=INVALID_PARAMS, message=f"the {kind} content is not valid base64")


def sampling_messages(
    params: CreateMessageRequestParams, max_image_bytes: int | None = None, max_images: int | None = None
) -> list[Message] | ErrorData:
    """The request as OpenAI messages: the system prompt, then each message's text and images (each image
    at most `max_image_bytes`, decoded; at most `max_images` of them)."""
    images = sum(
        isinstance(block, ImageContent)
        for message in params.messages
        for block in (message.content if isinstance(message.content, list) else [message.content])
    )
    if max_images is not None and images > max_images:
        return ErrorData(code=INVALID_PARAMS, message=f"{images} images were refused: the client takes {max_images}")
    messages: list[Message] = []
    if params.system_prompt:
        messages.append({"role": "system", "content": params.system_prompt})
    for message in params.messages:
        blocks: Sequence[Any] = message.content if isinstance(message.content, list) else [message.content]
        texts: list[str] = []
        parts: list[dict[str, Any]] = []
        for block in blocks:
            if isinstance(block, TextContent):
                texts.append(block.text)
            elif isinstance(block, ImageContent):
                if max_image_bytes is not None and len(block.data) > (max_image_bytes + 2) // 3 * 4 + 4:
                    return ErrorData(
                        code=INVALID_PARAMS, message=f"an image over {max_image_bytes:,} bytes was refused"
                    )
                size = _decoded_size(block.data, "image")
                if isinstance(size, ErrorData):
                    return size
                if max_image_bytes is not None and size > max_image_bytes:
                    return ErrorData(
                        code=INVALID_PARAMS, message=f"an image over {max_image_bytes:,} bytes was refused"
                    )
                parts.append({"type": "image_url", "image_url": {"url": f"data:{block.mime_type};base64,{block.data}"}})
            elif isinstance(block, AudioContent):
                size = _decoded_size(block.data, "audio")
                if isinstance(size, ErrorData):
                    return size
                texts.append(f"[audio: {block.mime_type[:100]}, {size} bytes]")
            else:  # tool use and tool results: this client does not offer sampling with tools
                return ErrorData(code=INVALID_PARAMS, message=f"the client cannot sample with {block.type} content")
        text = "\n".join(texts)
        if parts and message.role == "user":
            messages.append({"role": "user", "content": [{"type": "text", "text": text}, *parts] if text else parts})
        else:
            messages.append({"role": message.role, "content": text})
    return messages


def with_defaults(answer: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`answer` with each property the schema gives a default for and the answer lacks, except a default of
    ``true``: a yes (an approval, a consent) is the person's to give, never the server's."""
    filled = dict(answer)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, spec in properties.items():
            if name not in filled and isinstance(spec, dict) and "default" in spec and spec["default"] is not True:
                filled[name] = spec["default"]
    return filled


MAX_FORM_SCHEMA_CHARS = 65_536
"""The largest elicitation schema (as JSON) checked at all: a form is a handful of flat fields."""


def form_checker(schema: dict[str, Any]) -> Any:
    """A validator of answers to the form `schema`; `SchemaProblem` when it cannot be checked safely (too
    large, references that loop or go nowhere, not valid JSON Schema). Slow on a large schema: call it in a
    worker thread."""
    try:
        size = len(json.dumps(schema))
        if size > MAX_FORM_SCHEMA_CHARS:
            raise _validation.SchemaProblem(f"it is {size:,} characters, over {MAX_FORM_SCHEMA_CHARS:,}")
        checker = _validation.validator(schema)
        if _loops_in_place(schema):  # would recurse without end once an answer reaches it
            raise _validation.SchemaProblem("its references loop")
    except RecursionError:
        raise _validation.SchemaProblem("its references loop, or it is nested too deeply") from None
    except referencing.exceptions.Unresolvable as e:
        raise _validation.SchemaProblem(f"the reference {e.ref!r} does not resolve within it") from None
    return checker


_IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas")


def _loops_in_place(schema: dict[str, Any]) -> bool:
    """Whether a chain of references (and applicators that stay at the same value: allOf, not, if...) leads
    back to where it started: checking any value there never ends."""
    resolve = _validation.resolver(schema)
    nodes: list[Any] = []
    stack: list[Any] = [schema]
    while stack:  # every subschema
        node = stack.pop()
        if isinstance(node, dict):
            nodes.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)

    def next_to(node: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[Any] = []
        for key in ("$ref", "$dynamicRef"):
            if isinstance(node.get(key), str):
                found.append(resolve.lookup(node[key]).contents)
        for key in _IN_PLACE:
            value = node.get(key)
            found.extend(value if isinstance(value, list) else value.values() if isinstance(value, dict) and
                         key == "dependentSchemas" else [value])  # fmt: skip
        return [f for f in found if isinstance(f, dict)]

    done: set[int] = set()
    for start in nodes:
        if id(start) in done:
            continue
        on_path: set[int] = {id(start)}
        path: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [(start, next_to(start))]
        while path:
            _, todo = path[-1]
            if not todo:
                node, _ = path.pop()
                on_path.discard(id(node))
                done.add(id(node))
                continue
            step = todo.pop()
            if id(step) in on_path:
                return True
            if id(step) not in done:
                on_path.add(id(step))
                path.append((step, next_to(step)))
    return False


def answer_problem(value: Any, checker: Any) -> str | None:
    """What is wrong with `value` for the form `checker` checks (None: nothing)."""
    try:
        errors = list(checker.iter_errors(value))
    except _validation.SchemaProblem as e:
        return f"the schema cannot be checked ({e})"
    except RecursionError:
        return "the schema cannot be checked (its references loop)"
    except referencing.exceptions.Unresolvable as e:
        return f"the schema cannot be checked (the reference {e.ref!r} does not resolve within it)"
    if not errors:
        return None
    first = errors[0]
    where = "/".join(str(p) for p in first.absolute_path)
    return f"{where + ': ' if where else ''}{first.message}"


def _model_name(model: Any) -> str:
    name = getattr(model, "model", None)
    return name if isinstance(name, str) and name else type(model).__name__
