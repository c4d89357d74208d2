"""`MCPRequest`: the MCP request a served tool is answering (`RunContext.mcp`): progress,
log messages, sampling and elicitation, each sent to the client that made the request."""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from typing import Any, get_args

import pydantic
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.types import (
    CallToolRequestParams,
    ClientCapabilities,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitationCapability,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequest,
    InputRequiredResult,
    LoggingLevel,
    SamplingCapability,
    SamplingMessage,
    TextContent,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from .. import _validation
from ..exceptions import ToolError

__all__ = ["LEVELS", "InputNeeded", "MCPRequest", "set_level"]

logger = logging.getLogger("agentkit")

LEVELS: tuple[str, ...] = get_args(LoggingLevel)
"""MCP's log levels, least severe first (RFC 5424's)."""
_LEVEL_KEY = "agentkit.mcp.log_level"


def set_level(ctx: ServerRequestContext[Any, Any], level: str) -> None:
    """Remember the client's ``logging/setLevel`` for its connection."""
    state = _connection_state(ctx)
    if state is not None:
        state[_LEVEL_KEY] = level


def _connection_state(ctx: ServerRequestContext[Any, Any]) -> dict[str, Any] | None:
    # The SDK keeps per-connection state on its Connection, which a handler's context reaches
    # only through the session (mcp 2.3); without it, every level is sent.
    connection = getattr(ctx.session, "_connection", None)
    state = getattr(connection, "state", None)
    return state if isinstance(state, dict) else None


class MCPRequest:
    """The MCP request a served tool is answering (`RunContext.mcp`; None inside an Agent).

    Its methods send to the client that called the tool, on that call's own stream.
    """

    def __init__(self, context: ServerRequestContext[Any, Any], params: CallToolRequestParams | None = None) -> None:
        self.context = context
        """The SDK's request context (`mcp.server.context.ServerRequestContext`), for what this
        class does not cover."""
        # On the 2026-07-28 protocol a server cannot send the client a request mid-call: it
        # answers "input required" with its question, and the client calls again with the
        # answer. The tool then runs again from the start; the answers so far come back in
        # `request_state`, bound to this call's tool and arguments.
        self._rounds = context.protocol_version in MODERN_PROTOCOL_VERSIONS
        self._binding = _binding(params)
        self._answers: dict[str, Any] = _answers(params, self._binding) if self._rounds else {}
        self._asked = 0

    def __repr__(self) -> str:
        return f"MCPRequest(method={self.context.method!r}, id={self.context.request_id!r})"

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress (``notifications/progress``); nothing is sent when the client's
        request asked for no progress (it carried no progress token)."""
        await self.context.session.report_progress(progress, total, message)

    async def log(self, level: str, data: Any, logger_name: str | None = None) -> None:
        """Send a log message (``notifications/message``) at `level` (``"debug"``, ``"info"``,
        ``"notice"``, ``"warning"``, ``"error"``, ``"critical"``, ``"alert"``, ``"emergency"``).
        `data` is any JSON value. Nothing is sent below the level the client set with
        ``logging/setLevel`` (every level until it sets one)."""
        if level not in LEVELS:
            raise ValueError(f"an MCP log level is one of {', '.join(LEVELS)}, not {level!r}")
        state = _connection_state(self.context)
        floor = state.get(_LEVEL_KEY) if state is not None else None
        if floor in LEVELS and LEVELS.index(level) < LEVELS.index(floor):
            return
        with warnings.catch_warnings():  # deprecated in the 2026-07-28 protocol, which clients of 2025 still use
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await self.context.session.send_log_message(
                level,  # type: ignore[arg-type]  # checked against LEVELS above
                data,
                logger=logger_name,
                related_request_id=self.context.request_id,
            )

    async def sample(
        self,
        prompt: str | list[dict[str, Any]],
        *,
        max_tokens: int,
        system: str | None = None,
        temperature: float | None = None,
    ) -> str:
        """Ask the client's model (``sampling/createMessage``) and return its answer's text.

        `prompt` is one user message's text, or a list of ``{"role": "user" | "assistant",
        "content": str}`` messages. Raises `ToolError` (the call's result is then an error
        saying why) when the client does not offer sampling or refuses this request.
        """
        if not self._client_has(ClientCapabilities(sampling=SamplingCapability())):
            raise ToolError("the MCP client does not offer sampling (it did not declare the capability)")
        messages = [_sampling_message(m) for m in ([{"role": "user", "content": prompt}]
                                                    if isinstance(prompt, str) else prompt)]  # fmt: skip
        if self._rounds:
            asked = CreateMessageRequest(params=CreateMessageRequestParams(
                messages=messages, max_tokens=max_tokens, system_prompt=system, temperature=temperature))  # fmt: skip
            answer = self._answer(asked, CreateMessageResult)
            content = answer.content
            blocks = content if isinstance(content, list) else [content]
            return "".join(b.text for b in blocks if isinstance(b, TextContent))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                result = await self.context.session.create_message(
                    messages,
                    max_tokens=max_tokens,
                    system_prompt=system,
                    temperature=temperature,
                    related_request_id=self.context.request_id,
                )
        except MCPError as e:
            raise ToolError(f"the MCP client refused to sample: {e}") from None
        content = result.content
        blocks = content if isinstance(content, list) else [content]
        return "".join(b.text for b in blocks if isinstance(b, TextContent))

    async def elicit(self, message: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        """Ask the client's user to fill a form (``elicitation/create``): `message` says why,
        `schema` is a flat object schema of strings, numbers, booleans and enums. Returns what
        the user entered (checked against `schema`), or None when they declined or cancelled.
        Raises `ToolError` when the client does not offer elicitation, fails, or answers with
        content that does not fit `schema`."""
        if not self._client_has(ClientCapabilities(elicitation=ElicitationCapability())):
            raise ToolError("the MCP client does not offer elicitation (it did not declare the capability)")
        if self._rounds:
            asked = ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))  # type: ignore[arg-type]
            result = self._answer(asked, ElicitResult)
            return _checked(result, schema)
        try:
            result = await self.context.session.elicit_form(
                message,
                schema,  # type: ignore[arg-type]  # the SDK's TypedDict for the same JSON
                related_request_id=self.context.request_id,
            )
        except MCPError as e:
            raise ToolError(f"the MCP client failed to elicit: {e}") from None
        return _checked(result, schema)

    def _client_has(self, capability: ClientCapabilities) -> bool:
        return self.context.session.check_client_capability(capability)

    def _answer(self, asked: InputRequest, kind: type[pydantic.BaseModel]) -> Any:
        """The client's answer to this call's next question, from an earlier round; or, when
        it has not been asked yet, `InputNeeded` (the call's result is then the question)."""
        key = f"agentkit-{self._asked}"
        self._asked += 1
        if key not in self._answers:
            raise InputNeeded(InputRequiredResult(
                input_requests={key: asked},
                request_state=json.dumps({"call": self._binding, "answers": self._answers}),
            ))  # fmt: skip
        try:
            return kind.model_validate(self._answers[key])
        except pydantic.ValidationError:
            raise ToolError(f"the MCP client's answer to {asked.method} is not valid") from None


class InputNeeded(BaseException):
    """A question for the client on the 2026-07-28 protocol: the call ends with `.result` (an
    ``InputRequiredResult``) and runs again with the answer. A BaseException, so that a tool's
    own ``except Exception`` cannot swallow it."""

    def __init__(self, result: InputRequiredResult) -> None:
        super().__init__("input required")
        self.result = result


def _checked(result: ElicitResult, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The accepted form's content, checked against the schema the tool asked with (the client
    may send anything); None when the user declined or cancelled."""
    if result.action != "accept":
        return None
    content = dict(result.content or {})
    try:
        problems = [e.message for e in _validation.validator(schema, lenient=True).iter_errors(content)]
    except Exception as e:  # a schema that cannot be checked, or one too costly to: no answer is trusted
        raise ToolError(f"the form's answer cannot be checked against its schema: {e}") from None
    if problems:
        raise ToolError(f"the MCP client's answer does not fit the form: {'; '.join(problems[:5])}")
    return content


def _binding(params: CallToolRequestParams | None) -> str:
    """What ties earlier answers to one call: its tool and arguments (another call, or the same
    tool with other arguments, starts with no answers)."""
    if params is None:
        return ""
    text = json.dumps([params.name, params.arguments or {}], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _answers(params: CallToolRequestParams | None, binding: str) -> dict[str, Any]:
    """The answers of earlier rounds (`request_state`) and of the last one (`input_responses`)."""
    answers: dict[str, Any] = {}
    if params is None:
        return answers
    try:
        state = json.loads(params.request_state) if params.request_state else {}
    except ValueError:
        state = {}
    if isinstance(state, dict) and state.get("call") == binding and isinstance(state.get("answers"), dict):
        answers.update(state["answers"])
    for key, response in (params.input_responses or {}).items():
        answers[key] = response.model_dump(mode="json", by_alias=True, exclude_none=True)
    return answers


def _sampling_message(message: dict[str, Any]) -> SamplingMessage:
    role, content = message.get("role"), message.get("content")
    if role not in ("user", "assistant") or not isinstance(content, str):
        raise ValueError(f"a sampling message is {{'role': 'user' | 'assistant', 'content': str}}, not {message!r}")
    return SamplingMessage(role=role, content=TextContent(text=content))
