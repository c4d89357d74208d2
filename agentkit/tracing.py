"""OpenTelemetry spans for agent runs (extra ``agentkit[otel]``: needs ``opentelemetry-api``).

`instrument()` makes every run emit an ``invoke_agent`` span, with one ``chat`` span per model
call and one ``execute_tool`` span per tool call as its direct children, named and described
with OpenTelemetry's GenAI semantic conventions. Message, argument and result text, and the
message of an error, is recorded only with ``capture_content=True`` (then each text cut to
`max_content_chars`); without it a failure is told by its exception type's name only.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from typing_extensions import Self

from ._capability import CallAnswer, Capability, ModelRequest, ModelResponse, RunState, set_global
from ._events import ToolCall
from ._marks import outgoing
from ._model import Completion, Message
from ._result import RunResult
from .exceptions import UserError
from .tools import Tool

__all__ = ["instrument", "uninstrument"]

_SCOPE = "agentkit"
_MIN_CHARS = 100
"""The least `max_content_chars` may be: room for the cut marker and some text around it."""


def instrument(
    *, capture_content: bool = False, tracer_provider: Any = None, max_content_chars: int | None = 16_000
) -> None:
    """Trace every `Agent` run from now on, with `tracer_provider` (default: the global one).

    `max_content_chars`: with `capture_content`, each recorded text (a span attribute, an
    error's message) longer than this keeps its start and end around a marker, to this length in
    all; None records it whole. Calling it again replaces the settings. Raises ImportError when
    ``opentelemetry-api`` is not installed (``pip install 'agentkit[otel]'``).
    """
    if max_content_chars is not None and (
        not isinstance(max_content_chars, int) or isinstance(max_content_chars, bool) or max_content_chars < _MIN_CHARS
    ):
        raise UserError(f"max_content_chars must be None or an int of at least {_MIN_CHARS}, not {max_content_chars!r}")
    try:
        from opentelemetry import trace
    except ImportError as e:
        raise ImportError("agentkit.tracing needs opentelemetry-api: pip install 'agentkit[otel]'") from e

    tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)

    def factory(run: RunState) -> Capability:
        return _Tracing(_Content(tracer, capture_content, max_content_chars)).for_run(run)

    set_global("tracing", factory)


def uninstrument() -> None:
    """Stop tracing; runs already started finish their spans."""
    set_global("tracing", None)


def _model_id(model: Any) -> str | None:
    """The model id a request uses: a remote model's name (known after its first call when it
    is discovered from ``/v1/models``), a local model's path or hub id."""
    name = getattr(model, "model", None)
    if isinstance(name, str):
        return name
    config = getattr(name, "config", None)
    path = getattr(config, "name_or_path", None)
    return str(path) if path else None


def _server(model: Any) -> dict[str, Any]:
    base_url = getattr(model, "base_url", None)
    if not isinstance(base_url, str):
        return {}
    url = urlparse(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return {"server.address": url.hostname or "", "server.port": port}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _cut(text: str, limit: int | None) -> str:
    """`text`, or when longer than `limit` its start and end around a marker, `limit` characters in all.
    (A chat span holds the whole conversation so far: uncut, a long run's trace grows with its square.)"""
    if limit is None or len(text) <= limit:
        return text
    marker = f" …[{len(text)} characters, cut to {limit}]… "
    keep = limit - len(marker)
    return text[: keep - keep // 2] + marker + text[len(text) - keep // 2 :]


class _Span:
    """A span made current while its step runs; an exception that leaves it marks it ERROR."""

    def __init__(self, run: _Content, name: str, parent: Any, attributes: dict[str, Any], client: bool = False) -> None:
        from opentelemetry import trace

        self._trace = trace
        self._content = run
        tracer = run.tracer
        kind = trace.SpanKind.CLIENT if client else trace.SpanKind.INTERNAL
        self._span = tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
        self._token: Any = None

    def __enter__(self) -> Self:
        from opentelemetry import context

        # Current while the step runs: a nested agent or an MCP call inside a tool becomes its child.
        self._token = context.attach(self._trace.set_span_in_context(self._span))
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        from opentelemetry import context

        context.detach(self._token)
        self.end(error)

    def end(self, error: BaseException | None = None) -> None:
        """End the span (ERROR if `error`), without making its parent current again."""
        if error is not None:
            self._fail(type(error).__qualname__, type(error).__name__, f"{type(error).__name__}: {error}")
        self._span.end()

    def _fail(self, kind: str, name: str | None, message: str) -> None:
        """ERROR status: `kind` as ``error.type``; as the description, the error's `message` with
        capture_content, else only its type's `name` (a message quotes arguments, results, server replies)."""
        self._span.set_attribute("error.type", kind)
        description = self._content.text(message) if self._content.capture else name
        self._span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, description))


class _ChatSpan(_Span):
    def __init__(self, run: _RunSpan, messages: list[Message], options: dict[str, Any]) -> None:
        self._run = run
        attributes = {"gen_ai.operation.name": "chat", **run.base}
        for option in ("max_tokens", "temperature", "top_p", "top_k"):
            if options.get(option) is not None:
                attributes[f"gen_ai.request.{option}"] = options[option]
        if run.capture:
            attributes["gen_ai.input.messages"] = run.text(_json(messages))
            tools = options.get("tools") or ()
            attributes["gen_ai.tool.definitions"] = run.text(_json([getattr(t, "schema", t) for t in tools]))
        # CLIENT for a call to a server; a model in this process (LocalModel) is INTERNAL.
        super().__init__(run, run.name("chat"), run.parent, attributes, client="server.address" in run.base)

    def completion(self, completion: Completion) -> None:
        span = self._span
        # The model id may have been discovered by this very call (RemoteModel without `model=`).
        model = _model_id(self._run.model)
        if model is not None:
            span.set_attribute("gen_ai.request.model", model)
            span.set_attribute("gen_ai.response.model", model)
            self._run.base["gen_ai.request.model"] = model
            span.update_name(self._run.name("chat"))
        provider = getattr(self._run.model, "server", None)  # RemoteModel's server kind, known after a call
        if isinstance(provider, str):
            span.set_attribute("gen_ai.provider.name", provider)
        span.set_attribute("gen_ai.usage.input_tokens", completion.usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", completion.usage.completion_tokens)
        if completion.finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [completion.finish_reason])
        if self._run.capture:
            span.set_attribute("gen_ai.output.messages", self._run.text(_json([completion.message])))


class _ToolSpan(_Span):
    def __init__(self, run: _RunSpan, call: Any) -> None:
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.name,
            "gen_ai.tool.call.id": call.id,
            "gen_ai.tool.type": "function",
        }
        if run.capture:
            attributes["gen_ai.tool.call.arguments"] = run.text(call.arguments)
        super().__init__(run, f"execute_tool {call.name}", run.parent, attributes)

    def answered(self, content: str, error: str | None, error_type: str | None = None) -> None:
        if self._content.capture:
            self._span.set_attribute("gen_ai.tool.call.result", self._content.text(content))
        if error is not None:
            # The tool's failure was told to the model, not raised: the span still says it failed.
            # Without capture, an error that is no exception's (an unknown tool, a denial) has no description.
            self._fail("tool_error", error_type, error)


class _Content:
    """What a run's spans may record: its tracer, whether content is captured, and how much of a text."""

    def __init__(self, tracer: Any, capture: bool, limit: int | None) -> None:
        self.tracer = tracer
        self.capture = capture
        self.limit = limit

    def text(self, text: str) -> str:
        return _cut(text, self.limit)


class _RunSpan(_Content):
    """The ``invoke_agent`` span of one run; `chat` and `tool` open its children."""

    def __init__(self, tracer: Any, agent: Any, capture: bool, limit: int | None) -> None:
        from opentelemetry import trace

        _Content.__init__(self, tracer, capture, limit)
        self.model: Any = None
        self.base: dict[str, Any] = {}
        self.serve(agent.model)
        attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent.name, **self.base}
        self._span = _Span(self, self.name("invoke_agent"), None, attributes)
        self.parent = trace.set_span_in_context(self._span._span)

    def serve(self, model: Any) -> None:
        """The model the run's model calls go to from now on (a handoff changes it)."""
        if model is self.model:
            return
        self.model, self.base = model, {**_server(model)}
        model_id = _model_id(model)
        if model_id is not None:
            self.base["gen_ai.request.model"] = model_id

    def record_input(self, messages: list[Message]) -> None:
        self._span._span.set_attribute("gen_ai.input.messages", self.text(_json(messages)))

    def name(self, operation: str) -> str:
        model = self.base.get("gen_ai.request.model")
        return f"{operation} {model}" if model else operation

    def __enter__(self) -> _RunSpan:
        self._span.__enter__()
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        self._span.__exit__(kind, error, traceback)

    def finished(self, result: Any) -> None:
        span = self._span._span
        span.set_attribute("gen_ai.usage.input_tokens", result.usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", result.usage.completion_tokens)
        if "gen_ai.request.model" in self.base:
            span.set_attribute("gen_ai.request.model", self.base["gen_ai.request.model"])
            span.update_name(self.name("invoke_agent"))
        if self.capture:
            span.set_attribute("gen_ai.output.messages", self.text(_json(result.messages[-1:])))


class _Tracing(Capability):
    """Tracing, a run capability: the run's span, one per model call and one per tool call."""

    early_dispatch = True  # it only observes

    def __init__(self, content: _Content) -> None:
        self.content = content
        self.run: _RunSpan | None = None
        self.chat: _ChatSpan | None = None
        self.tools: dict[str, _ToolSpan] = {}

    def for_run(self, run: RunState) -> _Tracing:
        # The run's span is current from the start: the connections its toolsets open are its children.
        c = self.content
        self.run = _RunSpan(c.tracer, run.agent, c.capture, c.limit).__enter__()
        return self

    async def run_started(self, run: RunState) -> None:
        if self.run is not None and self.content.capture:  # the input as the run has it: the history first
            self.run.record_input(run.messages)

    async def before_request(self, run: RunState, request: ModelRequest) -> None:
        assert self.run is not None
        self.run.serve(run.agent.model)  # the agent that has the run (a handoff changes it)
        messages = outgoing(request.messages) if self.content.capture else request.messages
        self.chat = _ChatSpan(self.run, messages, request.options).__enter__()

    async def request_failed(self, run: RunState, error: BaseException) -> None:
        if self.chat is not None:
            self.chat.__exit__(type(error), error, None)
            self.chat = None

    async def after_response(self, run: RunState, response: ModelResponse) -> None:
        if self.chat is not None and response.completion is not None:
            self.chat.completion(response.completion)
            self.chat.__exit__(None, None, None)
            self.chat = None

    async def before_call(self, run: RunState, call: ToolCall, tool: Tool[Any, Any] | None) -> CallAnswer | None:
        assert self.run is not None
        # Current while the tool runs (this call's own task): a run inside the tool is its child.
        self.tools[call.id] = _ToolSpan(self.run, call).__enter__()
        return None

    async def after_call(self, run: RunState, call: ToolCall, answer: CallAnswer) -> None:
        assert self.run is not None
        span = self.tools.pop(call.id, None)
        if span is None:  # answered before this capability's turn (a denial): a span of its own
            span = _ToolSpan(self.run, call).__enter__()
        span.answered(answer.content, answer.error, answer.error_type)
        span.__exit__(None, None, None)

    async def run_finished(self, run: RunState, result: RunResult[Any]) -> None:
        assert self.run is not None
        self.run.finished(result)
        self.run.__exit__(None, None, None)

    async def run_failed(self, run: RunState, error: BaseException) -> None:
        for span in self.tools.values():  # calls the failure cut short, in tasks that are gone
            span.end(error)
        self.tools.clear()
        if self.chat is not None:
            self.chat.__exit__(type(error), error, None)
            self.chat = None
        if self.run is not None:
            self.run.__exit__(type(error), error, None)
