"""`RemoteModel`: any OpenAI-compatible server, spoken to in its own dialect."""

from __future__ import annotations

import base64
import json
import logging
import math
import mimetypes
import os
import threading
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlparse

import anyio
import openai

from ._chunks import (
    Assembler,
    completion_events,
    join_texts,
    read_usage,
    server_calls,
    without_echoes,
)
from ._dialects import retry_unstreamed, wire_message
from ._model import (
    Completion,
    CompletionDone,
    Message,
    ModelEvent,
    Sampling,
    ToolChoice,
    ToolSpec,
    check_options,
    default_sampling,
    tool_schemas,
    unique_ids,
)
from ._reasoned import reasoned_calls
from ._redact import Redactor, public_url
from ._refused import refused, refused_event
from ._remote_tokens import TokenPath, recorded
from ._tokens import TokenRequest
from .exceptions import ModelError, UserError
from .formats import AUTO, Format, get_format, new_call_id

__all__ = ["RemoteModel", "Server"]

logger = logging.getLogger("agentkit")

Server = Literal["auto", "lmdeploy", "vllm", "sglang", "ollama", "llamacpp", "openai"]
_OWNERS = {"lmdeploy": "lmdeploy", "vllm": "vllm", "sglang": "sglang", "llamacpp": "llamacpp",
           "library": "ollama", "ollama": "ollama", "openai": "openai", "system": "openai"}  # fmt: skip
# Servers that take top_k / min_p (as extra body fields).
_TAKES_TOP_K = {"lmdeploy", "vllm", "sglang", "llamacpp"}
_SAMPLING = ("temperature", "top_p", "top_k", "min_p", "max_tokens")
# Chat-completions fields passed through as given (None leaves the server's default). Fields
# that would change what comes back in ways a `Completion` cannot hold (n, logprobs) are not
# here; `extra_body` sends them, or anything else, on the caller's own responsibility.
_PASSED_THROUGH = ("stop", "seed", "presence_penalty", "frequency_penalty", "repetition_penalty",
                   "response_format", "logit_bias", "user", "parallel_tool_calls")  # fmt: skip
# In vLLM's answer to tools with any tool_choice but "none" when it was started without
# --enable-auto-tool-choice / --tool-call-parser (the Intern-S1 guide's command): '"auto" tool
# choice requires --enable-auto-tool-choice and --tool-call-parser to be set', and (0.32)
# 'tool_choice="required" requires --tool-call-parser to be set', the same for a named tool.
_NO_TOOL_PARSER = "--tool-call-parser"
_OPENAI_HOST = "api.openai.com"
_END = object()  # the end of a stream


class _Secret:
    """Holds an API key; its repr hides it and it has no instance dict to list."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value or None

    def reveal(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('***')" if self._value else "_Secret(None)"


class RemoteModel:
    """A model behind an OpenAI-compatible server (lmdeploy, vLLM, SGLang, Ollama, llama.cpp).

    One HTTP client per event loop, reused for every call (thousands may run concurrently).
    `server="auto"` asks ``/models`` once who serves; `model=None` takes its first model id.
    Reasoning is read from whichever field the server uses; raw ``<think>`` or tool-call markup
    in the content (a server started without parsers) is parsed by `agentkit.formats`; where
    that content starts (inside reasoning or not) is one decision for `complete` and `stream`
    (`starts_in_reasoning`; None: see `_content_start`). A vLLM
    started without a tool-call parser refuses tools under any `tool_choice` but ``"none"``: the
    tools are then sent with ``"none"`` and the calls read from the raw text (remembered per
    instance, logged once); such a server cannot force a call under ``"required"`` or a name.
    `sampling=None` takes the guide's preset when the model id names an Intern model
    (`INTERN_S1`, `INTERN_S1_MINI`, `INTERN_S1_PRO`, `INTERN_S2_PREVIEW`), else no sampling fields.

    `api_key=None` sends the environment's ``OPENAI_API_KEY`` to OpenAI's own API only
    (``https://api.openai.com``); other servers get no key unless one is given. The key is kept
    out of the instance's plain attributes, `repr` and every error message, even when a server
    echoes it; so are the base URL's userinfo, query and fragment (from `repr`, errors and logs).
    """

    options: ClassVar[frozenset[str]] = frozenset((*_SAMPLING, *_PASSED_THROUGH, "extra_body"))
    """Keyword options `complete` and `stream` take: the `Sampling` fields, the chat-completions
    fields ``stop``, ``seed``, ``presence_penalty``, ``frequency_penalty``,
    ``repetition_penalty``, ``response_format``, ``logit_bias``, ``user``,
    ``parallel_tool_calls`` (sent when not None), and ``extra_body``, a dict merged into the
    request body last. Any other keyword raises `UserError`."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        server: Server = "auto",
        sampling: Sampling | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_duration: float | None = 1800.0,
        max_retries: int = 2,
        format: str | Format | None = None,
        starts_in_reasoning: bool | None = None,
        images: bool = False,
        tokenizer: str | Path | Any | None = None,
    ) -> None:
        if max_duration is not None and (isinstance(max_duration, bool) or not max_duration > 0):
            raise UserError(f"max_duration wants seconds above 0, or None for no bound; not {max_duration!r}")
        self.base_url = base_url.rstrip("/")
        self.records = tokenizer is not None
        """Whether it records a run's tokens (``record=True``): it was given a `tokenizer` (a Hugging
        Face id or path, or a loaded tokenizer) to render the chat template with (docs/trajectories.md)."""
        self._tokens = TokenPath(tokenizer) if tokenizer is not None else None
        self.takes_images = images
        """Whether the served model takes images: then images a tool returns (an MCP result)
        are sent to it as image parts, else the model reads a placeholder."""
        self.model = model
        self._api_key = _Secret(api_key if api_key is not None else _environment_key(self.base_url))
        self.server: Server = server
        # None: the guide's preset when the model id names an Intern model (known once resolved).
        self._preset = sampling is None
        self.sampling = sampling or default_sampling(model or "")
        self.timeout = openai.Timeout(timeout, connect=connect_timeout)
        self.max_retries = max_retries
        self.max_duration = max_duration
        """Seconds one model call may take in all (the request, its retries and the whole
        response, also a stream that never ends); past it, `ModelError`. None: no bound."""
        self.format = (get_format(format) if isinstance(format, str) else format) or AUTO
        self.starts_in_reasoning = starts_in_reasoning
        self._clients: dict[Any, openai.AsyncOpenAI] = {}
        self._resolved = server != "auto" and model is not None
        # Set once this server has refused tools under "auto" for want of a tool-call parser.
        self._text_tools = False
        self._text_tools_lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key, nor the URL's credentials
        return f"RemoteModel({public_url(self.base_url)!r}, model={self.model!r}, server={self.server!r})"

    # --- connection ----------------------------------------------------------------------

    def _client(self) -> openai.AsyncOpenAI:
        # httpx connections belong to the event loop that opened them: one client per loop,
        # so that the model works across repeated anyio.run / run_sync calls.
        loop = anyio.lowlevel.current_token()
        client = self._clients.get(loop)
        if client is None:
            for stale in list(self._clients):
                del self._clients[stale]
            # Our own HTTP client: openai's default one closes itself on garbage collection by
            # scheduling on whatever loop runs then, which fails for a client of a finished loop.
            http = openai.DefaultAsyncHttpxClient(timeout=self.timeout)
            # A placeholder key: the client must not read OPENAI_API_KEY for any server (nor hold
            # our key); the real one goes in each request's headers (`_auth_headers`).
            client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key="EMPTY", timeout=self.timeout,
                max_retries=self.max_retries, http_client=http,
            )  # fmt: skip
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close the HTTP connections of the current event loop's client."""
        client = self._clients.pop(anyio.lowlevel.current_token(), None)
        if client is not None:
            await client.close()

    async def __aenter__(self) -> RemoteModel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _resolve(self) -> None:
        if self._resolved:
            return
        failure: ModelError | None = None
        try:
            page = await self._client().models.list(extra_headers=self._auth_headers())
        except openai.OpenAIError as e:
            failure = self._error(e, "listing the server's models")
        if failure is not None:
            raise failure  # outside the handler: no server text (or key) in its __context__
        models = list(page.data)
        if self.model is None:
            if not models:
                raise ModelError(f"{public_url(self.base_url)}/models lists no model")
            self.model = models[0].id
            if self._preset:
                self.sampling = default_sampling(self.model)
        if self.server == "auto":
            owner = next((m.owned_by for m in models if m.id == self.model), models[0].owned_by if models else "")
            guess = "ollama" if urlparse(self.base_url).port == 11434 else "openai"
            self.server = _OWNERS.get(str(owner).lower(), guess)  # type: ignore[assignment]
            logger.info("%s is served by %s", public_url(self.base_url), self.server)
        self._resolved = True

    # --- requests ---------------------------------------------------------------------------

    def _check_options(self, options: dict[str, Any]) -> None:
        check_options("RemoteModel", options, self.options)
        extra = options.get("extra_body")
        if extra is not None and not isinstance(extra, dict):
            raise UserError(f"extra_body must be a dict of request fields, not {type(extra).__name__}")

    def _body(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None, thinking: bool | None,
        tool_choice: ToolChoice | None, options: dict[str, Any], stream: bool, text_tools: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        sampling = self.sampling.merged(**{k: v for k, v in options.items() if k in _SAMPLING})
        body: dict[str, Any] = {"model": self.model, "messages": self._messages(messages)}
        schemas = tool_schemas(tools)
        if schemas:
            body["tools"] = schemas
        if text_tools:
            # The tools still reach the chat template; the calls come back as raw markup, whose
            # marker tokens vLLM would drop as special tokens (its own tool parsers turn this off too).
            body["tool_choice"] = "none"
            body["skip_special_tokens"] = False
            body["spaces_between_special_tokens"] = False
        elif tool_choice is not None and (schemas or tool_choice == "none"):
            body["tool_choice"] = (
                tool_choice if tool_choice in ("auto", "required", "none")
                else {"type": "function", "function": {"name": tool_choice}}
            )  # fmt: skip
        for name in ("temperature", "top_p", "max_tokens"):
            if getattr(sampling, name) is not None:
                body[name] = getattr(sampling, name)
        if self.server in _TAKES_TOP_K:
            for name in ("top_k", "min_p"):
                if getattr(sampling, name) is not None:
                    body[name] = getattr(sampling, name)
        if thinking is not None:
            if self.server in ("lmdeploy", "vllm", "sglang", "llamacpp"):
                body["chat_template_kwargs"] = {"enable_thinking": thinking}
            if self.server == "lmdeploy":
                body["enable_thinking"] = thinking  # the field older lmdeploy reads, as in the guide
            if self.server == "ollama" and not thinking:
                body["reasoning_effort"] = "none"
        if self.server == "lmdeploy":
            body["spaces_between_special_tokens"] = False  # keeps tool-call markers intact
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if sampling.seed is not None:  # Sampling(seed=); a seed= option (passed through) wins
            body["seed"] = sampling.seed
        for name in _PASSED_THROUGH:
            if options.get(name) is not None:
                body[name] = options[name]
        body.update(options.get("extra_body") or {})
        return body

    def _messages(self, messages: Sequence[Message]) -> list[Message]:
        last_user = max((i for i, m in enumerate(messages) if _is_query(messages, i)), default=-1)
        out = []
        for i, message in enumerate(messages):
            # Intern-S1's, Qwen3's and Qwen3.5's templates drop the reasoning of turns before the
            # last user message and render the current turn's: it goes back under the keys this server reads.
            m = wire_message(self.server, message, keep_reasoning=i > last_user)
            if isinstance(m.get("content"), list):
                m["content"] = [_wire_part(p) for p in m["content"]]
            out.append(m)
        return out

    def _auth_headers(self) -> dict[str, str]:
        key = self._api_key.reveal()
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def _post(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None, thinking: bool | None,
        tool_choice: ToolChoice | None, options: dict[str, Any], stream: bool,
    ) -> Any:  # fmt: skip
        """Send the request: the response text, or the open event stream.

        A server that refuses tools for want of a tool-call parser gets them again with
        tool_choice "none" (and from then on at once); the raw markup in its content is parsed here.
        """
        await self._resolve()
        choosing = bool(tools) and tool_choice != "none"
        text_tools = choosing and self._text_tools
        body = self._body(messages, tools, thinking, tool_choice, options, stream, text_tools)
        try:
            return await self._send(body, stream)
        except openai.OpenAIError as e:
            failure = self._error(e, "calling the model")
            refused = choosing and not text_tools and failure.status == 400 and _NO_TOOL_PARSER in f"{e}"
        if not refused:
            raise failure  # outside the handler: no server text (or key) in its __context__
        self._remember_text_tools(failure)
        body = self._body(messages, tools, thinking, tool_choice, options, stream, text_tools=True)
        try:
            return await self._send(body, stream)
        except openai.OpenAIError as e:
            failure = self._error(e, "calling the model")
        raise failure

    async def _send(self, body: dict[str, Any], stream: bool) -> Any:
        # The body goes out as built (the client's per-request transform of typed params is
        # skipped) and comes back as text or raw chunks, read as plain dicts: no response models
        # are built. Retries (before any byte is read), timeouts and auth are the openai client's.
        options: Any = {"headers": self._auth_headers()}
        if stream:
            return await self._client().post(
                "/chat/completions", body=body, cast_to=object, stream=True,
                stream_cls=openai.AsyncStream[object], options=options,
            )  # fmt: skip
        return await self._client().post("/chat/completions", body=body, cast_to=str, options=options)

    def _remember_text_tools(self, refusal: ModelError) -> None:
        with self._text_tools_lock:
            first, self._text_tools = not self._text_tools, True
        if first:
            logger.warning(
                "%s has no tool-call parser (%s): from now on its tools go with tool_choice='none' and "
                "agentkit parses the calls from the raw text; it cannot force a call ('required' or a "
                "named tool). Start it with --enable-auto-tool-choice --tool-call-parser to have the "
                "server parse them", public_url(self.base_url), refusal.body or refusal,
            )  # fmt: skip

    def _error(self, error: BaseException, doing: str, partial: Any = None) -> ModelError:
        status = getattr(error, "status_code", None)
        body = getattr(error, "body", None)
        text = json.dumps(body, ensure_ascii=False) if isinstance(body, (dict, list)) else (str(body) if body else None)
        where = public_url(self.base_url)
        message = f"{self.server} server at {where} failed while {doing}: {type(error).__name__}: {error}"
        return self._redacted(ModelError(message, status=status, body=text, partial=partial))

    def _redacted(self, error: ModelError) -> ModelError:
        """`error` with the key and the URL's secrets replaced wherever a server's text reached it."""
        error.args = tuple(self._redact(a) if isinstance(a, str) else a for a in error.args)
        error.body = self._redact(error.body) if error.body else error.body
        return error

    def _redact(self, text: str) -> str:
        # The key, and the URL's userinfo and query (a proxy's user:password@, a gateway's ?key=).
        return Redactor.for_url(self.base_url, self._auth_headers())(text)

    def _deadline(self) -> float:
        return math.inf if self.max_duration is None else anyio.current_time() + self.max_duration

    def _too_long(self, partial: Completion | None = None) -> ModelError:
        return ModelError(f"{self.server} server at {public_url(self.base_url)} took longer than "
                          f"max_duration ({self.max_duration} s) for one response", partial=partial)  # fmt: skip

    # --- the Model protocol ----------------------------------------------------------------------

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] | None = None,
        thinking: bool | None = None,
        tool_choice: ToolChoice | None = None,
        **options: Any,
    ) -> Completion:
        """One response to `messages`; `options` as in `RemoteModel.options`."""
        record = options.pop("record", None)
        self._check_options(options)
        if record is not None:
            events = await self._recorded(messages, tools, thinking, tool_choice, options, record)
            done = events[-1]
            assert isinstance(done, CompletionDone)
            return done.completion
        return await self._complete(messages, tools, thinking, tool_choice, options, self._deadline())

    def check_recording(self) -> None:
        """A UserError when the tokenizer's chat template cannot continue a recorded run (checked before any call)."""
        if self._tokens is not None:
            self._tokens.check()

    async def _recorded(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None, thinking: bool | None,
        tool_choice: ToolChoice | None, options: dict[str, Any], record: Any,
    ) -> list[ModelEvent]:  # fmt: skip
        """A recorded call, token ids in and out (see `_remote_tokens.py`): its events, read whole."""
        if self._tokens is None:
            raise UserError("record=True: give RemoteModel a tokenizer (tokenizer=ID_OR_PATH) to send token ids")
        if not isinstance(record, TokenRequest):
            raise UserError(f"record must be a TokenRequest, not {type(record).__name__}")
        await self._resolve()
        sampling = self.sampling.merged(**{k: v for k, v in options.items() if k in _SAMPLING})
        return await recorded(self, self._tokens, messages, tools, thinking, tool_choice, sampling, options, record)

    async def _complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None, thinking: bool | None,
        tool_choice: ToolChoice | None, options: dict[str, Any], deadline: float,
    ) -> Completion:  # fmt: skip
        with anyio.CancelScope(deadline=deadline) as scope:
            text = await self._post(messages, tools, thinking, tool_choice, options, False)
        if scope.cancelled_caught:
            raise self._too_long()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
            failure = ModelError(f"the server sent a response that is not JSON: {text[:200]!r}", body=text[:2000])
        if data is None:
            raise self._redacted(failure)
        try:
            return self._read(data, thinking, tools, tool_choice, messages)
        except ModelError as e:
            failure = self._redacted(e)
        raise failure

    def _content_start(self, thinking: bool | None, server_reasoned: bool) -> bool | None:
        """Where the content text starts (`in_reasoning` for the parser): one decision for
        `complete` and `stream`.

        `starts_in_reasoning`, when given, wins. Content that follows reasoning the server sent in
        its own field, or a request with thinking off, starts as content. Otherwise the text
        decides (`None`): a parser-less server may return ``thinking</think>answer`` when the
        template opened ``<think>`` in the prompt, so the start is held back until ``</think>``
        (reasoning), ``<think>``, a call or the end (content) says which.
        """
        if self.starts_in_reasoning is not None:
            return self.starts_in_reasoning
        if server_reasoned or thinking is False:
            return False
        return None

    def _read(
        self, data: Any, thinking: bool | None = None, tools: Sequence[ToolSpec] | None = None,
        tool_choice: ToolChoice | None = None, messages: Sequence[Message] = (),
    ) -> Completion:  # fmt: skip
        if not isinstance(data, dict) or "error" in data:
            error = data.get("error") if isinstance(data, dict) else data
            raise ModelError(f"the server returned an error: {json.dumps(error, ensure_ascii=False)[:500]}",
                             body=json.dumps(error, ensure_ascii=False))  # fmt: skip
        choices = data.get("choices") or []
        if not choices:
            raise ModelError("the server returned no choices", body=json.dumps(data)[:2000])
        choice = choices[0]
        message = choice.get("message") or {}
        raw = message.get("content") or ""
        server_reasoning = message.get("reasoning_content") or message.get("reasoning")
        parsed = self.format.parse(
            raw, in_reasoning=self._content_start(thinking, bool(server_reasoning)), tools=tools
        )  # the tools: XML calls' values are typed by their schemas
        calls, errors = server_calls(message.get("tool_calls") or [])
        reasoning = join_texts(server_reasoning, parsed.reasoning)
        all_calls = unique_ids(calls + without_echoes(calls, parsed.tool_calls), new_call_id)
        done = Completion(
            content=parsed.content, reasoning=reasoning, tool_calls=all_calls,
            errors=errors + parsed.errors, finish_reason=choice.get("finish_reason"),
            usage=read_usage(data.get("usage")),
        )  # fmt: skip
        reasoned = reasoned_calls(self.format, done, tools=tools, tool_choice=tool_choice, messages=messages)
        return refused(replace(done, tool_calls=reasoned) if reasoned else done, tool_choice)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] | None = None,
        thinking: bool | None = None,
        tool_choice: ToolChoice | None = None,
        **options: Any,
    ) -> AsyncGenerator[ModelEvent, None]:
        """The response as events, ending with `CompletionDone`; a bad option raises at once."""
        record = options.pop("record", None)
        self._check_options(options)
        if record is not None:
            return self._recorded_stream(messages, tools, thinking, tool_choice, options, record)
        return self._stream(messages, tools, thinking, tool_choice, options)

    async def _recorded_stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None, thinking: bool | None,
        tool_choice: ToolChoice | None, options: dict[str, Any], record: Any,
    ) -> AsyncGenerator[ModelEvent, None]:  # fmt: skip
        for event in await self._recorded(messages, tools, thinking, tool_choice, options, record):
            yield event

    async def _stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None, thinking: bool | None,
        tool_choice: ToolChoice | None, options: dict[str, Any],
    ) -> AsyncGenerator[ModelEvent, None]:  # fmt: skip
        deadline = self._deadline()
        with anyio.CancelScope(deadline=deadline) as scope:
            stream = await self._post(messages, tools, thinking, tool_choice, options, True)
        if scope.cancelled_caught:
            raise self._too_long()
        # The parser is made at the first content piece: by then the server has sent its
        # reasoning field or not, which decides where the content starts.
        assembler = Assembler(
            lambda reasoned: self.format.stream_parser(
                in_reasoning=self._content_start(thinking, reasoned), tools=tools
            ),
            lambda done: reasoned_calls(self.format, done, tools=tools, tool_choice=tool_choice, messages=messages),
        )
        failure: ModelError | None = None
        chunks = aiter(stream)
        try:
            while True:
                # The deadline bounds each read, never a yield: a cancel scope must not span one.
                with anyio.CancelScope(deadline=deadline) as scope:
                    chunk = await anext(chunks, _END)
                if scope.cancelled_caught:
                    raise self._too_long(assembler.partial())
                if chunk is _END:
                    break
                if not isinstance(chunk, dict):
                    raise ModelError(f"the server sent a stream chunk that is not an object: {chunk!r:.200}",
                                     partial=assembler.partial())  # fmt: skip
                for event in assembler.feed(chunk):
                    yield refused_event(event, tool_choice)
        except ModelError as e:
            failure = self._redacted(e)
        except json.JSONDecodeError as e:
            failure = ModelError(f"the server sent a stream chunk that is not JSON ({e.msg})",
                                 partial=assembler.partial())  # fmt: skip
        except Exception as e:  # the transport's errors (the openai client's httpx flavour), error events
            failure = self._error(e, "streaming the response", partial=assembler.partial())
        finally:
            with anyio.CancelScope(shield=True):
                await stream.close()
        if failure is not None:
            raise failure  # outside the handler: no server text (or key) in its __context__
        for event in assembler.finish():
            yield refused_event(event, tool_choice)
        if not assembler.got_choice:
            raise ModelError("the server's stream had no choices", partial=assembler.partial())
        streamed = refused(assembler.completion(), tool_choice)
        if retry_unstreamed(self.server, tools, tool_choice, streamed):
            logger.info("%s streamed neither text nor a tool call: asking again unstreamed", public_url(self.base_url))
            # Within what is left of this call's max_duration: it bounds one whole model call.
            streamed = await self._complete(messages, tools, thinking, tool_choice, options, deadline)
            for event in completion_events(streamed):
                yield event
        yield CompletionDone(completion=streamed)


def _environment_key(base_url: str) -> str | None:
    """The environment's OPENAI_API_KEY, for OpenAI's own API only (https, its exact host)."""
    url = urlparse(base_url)
    if url.scheme == "https" and url.hostname == _OPENAI_HOST:
        return os.environ.get("OPENAI_API_KEY")
    return None


def _wire_part(part: dict[str, Any]) -> dict[str, Any]:
    """A content part as OpenAI-compatible servers take it; local files become data URLs."""
    kind = part.get("type")
    if kind in ("image", "video"):
        url = part.get("url")
        if url is None and part.get("path") is not None:
            url = _data_url(Path(part["path"]))
        if url is None:
            raise UserError(f"a {kind} part needs a 'url' or a 'path'")
        return {"type": f"{kind}_url", f"{kind}_url": {"url": url}}
    return dict(part)


def _data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _is_query(messages: Sequence[Message], i: int) -> bool:
    """Whether `messages[i]` is a user's question: the images message a run adds after its tool
    messages (content parts right after a tool message) is not, as in Qwen3's template, so the
    current turn keeps its reasoning."""
    m = messages[i]
    if m.get("role") != "user":
        return False
    return not (i > 0 and messages[i - 1].get("role") == "tool" and isinstance(m.get("content"), list))
