"""`RemoteModel(..., tokenizer=...)` in a recorded run: token ids in, token ids and logprobs out.

agentkit renders the model's chat template with the given tokenizer (a later call: the run's
tokens, then the new messages' only, as `LocalModel` does), sends the ids to the server's
raw-completion endpoint, and parses the generated ids' text with the model family's format.
Three dialects, by `RemoteModel.server`:

- vLLM, ``POST /v1/completions``: ``prompt`` as ids, ``return_token_ids``, ``logprobs: 0`` (the
  sampled token's logprob; vLLM's default logprobs mode is the raw logits');
- SGLang, ``POST /generate``: ``input_ids``, ``return_logprob`` (``meta_info.output_token_logprobs``);
- llama.cpp, ``POST /completion``: ``prompt`` as ids, ``return_tokens``, ``n_probs: 1`` with
  ``post_sampling_probs`` off (a softmax of the logits before the sampler chain).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._chunks import call_events
from ._continued import check_tokenizer, continued_ids
from ._dialects import template_calls, wire_message
from ._model import Completion, CompletionDone, Message, ModelEvent, ToolChoice, ToolSpec, Usage, tool_schemas
from ._reasoned import reasoned_calls
from ._refused import refused, refused_event
from ._tokens import TokenRecord, TokenRequest
from .exceptions import ModelError, UserError
from .formats import Format, detect_format

__all__ = ["DIALECTS", "TokenPath", "answer", "recorded", "request", "respond"]

DIALECTS = ("vllm", "sglang", "llamacpp")
"""Servers whose raw-completion endpoint takes token ids and returns ids and logprobs."""


class TokenPath:
    """The tokenizer (loaded on first use) and the requests of one `RemoteModel`'s recorded calls."""

    def __init__(self, tokenizer: str | Path | Any) -> None:
        self._source = tokenizer
        self._tokenizer: Any = None if isinstance(tokenizer, (str, Path)) else tokenizer
        self._lock = threading.Lock()
        self._stops: set[int] = set()

    def tokenizer(self) -> Any:
        with self._lock:
            if self._tokenizer is None:
                try:
                    from transformers import AutoTokenizer
                except ImportError as e:
                    raise UserError(f"RemoteModel(tokenizer=...) needs transformers ({e})") from e
                self._tokenizer = AutoTokenizer.from_pretrained(str(self._source))
            if not self._stops:
                self._stops = _stop_ids(self._tokenizer)
            return self._tokenizer

    def check(self) -> None:
        """A UserError when the tokenizer's chat template cannot continue a recorded run."""
        check_tokenizer(self.tokenizer(), self._stops)

    def format(self, fallback: Format) -> Format:
        template = getattr(self.tokenizer(), "chat_template", None)
        return (detect_format(template) if isinstance(template, str) else None) or fallback

    def prompt(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None, thinking: bool | None,
        tool_choice: ToolChoice | None, record: TokenRequest, fmt: Format,
    ) -> tuple[list[int], str, bool]:  # fmt: skip
        """(the ids to send, the call opening forced on the model, whether the output starts in reasoning)."""
        tokenizer = self.tokenizer()
        kwargs: dict[str, Any] = {}
        if thinking is not None:
            kwargs["enable_thinking"] = thinking
        schemas = tool_schemas(tools) if tool_choice != "none" else None
        if schemas:
            kwargs["tools"] = schemas

        def render(conversation: list[Message], generation_prompt: bool) -> list[int]:
            out = tokenizer.apply_chat_template(conversation, add_generation_prompt=generation_prompt,
                                                tokenize=True, return_dict=True, **kwargs)  # fmt: skip
            return [int(t) for t in out["input_ids"]]

        if record.ids:
            ids = continued_ids(render, record.ids, [_text(m) for m in messages[record.seen :]], self._stops)
        else:
            ids = render([_text(m) for m in messages], True)
        tail = tokenizer.decode(ids[-8:], skip_special_tokens=False)
        in_reasoning = bool(tail.rstrip().endswith("<think>"))
        forced = ""
        if schemas and tool_choice not in (None, "auto", "none") and not in_reasoning:
            forced = fmt.forced_call_start(None if tool_choice == "required" else tool_choice)
            ids = ids + list(tokenizer.encode(forced, add_special_tokens=False))
        return ids, forced, in_reasoning and not forced

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer().decode([t for t in ids if t not in self._stops], skip_special_tokens=False))

    def ends(self, ids: list[int]) -> bool:
        return bool(ids) and ids[-1] in self._stops


async def recorded(
    model: Any, path: TokenPath, messages: Sequence[Message], tools: Sequence[ToolSpec] | None,
    thinking: bool | None, tool_choice: ToolChoice | None, sampling: Any, options: dict[str, Any],
    record: TokenRequest,
) -> list[ModelEvent]:  # fmt: skip
    """`model`'s (a resolved `RemoteModel`'s) recorded call: its events, ending with `CompletionDone`."""
    import anyio
    import anyio.to_thread
    import openai

    fmt = await anyio.to_thread.run_sync(path.format, model.format)  # loading a tokenizer blocks
    ids, forced, in_reasoning = await anyio.to_thread.run_sync(
        lambda: path.prompt(messages, tools, thinking, tool_choice, record, fmt)
    )
    url, body = request(model.server, model.base_url, model.model, ids, sampling, options)
    body.update(options.get("extra_body") or {})
    failure: ModelError | None = None
    text = ""
    with anyio.CancelScope(deadline=model._deadline()) as scope:
        try:
            headers = {"headers": model._auth_headers()}
            text = await model._client().post(url, body=body, cast_to=str, options=headers)
        except openai.OpenAIError as e:
            failure = model._error(e, "calling the model")
    if scope.cancelled_caught:
        raise model._too_long()
    if failure is not None:
        raise failure  # outside the handler: no server text (or key) in its __context__
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    try:
        if not isinstance(data, dict):
            raise ModelError(f"the server sent a response that is not a JSON object: {text[:200]!r}", body=text[:2000])
        out, logprobs, cut = answer(model.server, data)
    except ModelError as e:
        failure = model._redacted(e)
    if failure is not None:
        raise failure
    return respond(path, fmt, ids, forced, in_reasoning, out, logprobs, cut, tools, tool_choice, messages)


def request(server: str, base_url: str, model: str | None, ids: list[int], sampling: Any,
            options: dict[str, Any]) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """The URL and body of a raw completion of `ids` on `server`."""
    if server not in DIALECTS:
        raise UserError(f"record=True: a {server} server cannot take token ids and return logprobs; "
                        "vLLM, SGLang and llama.cpp servers can")  # fmt: skip
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    fields = {n: getattr(sampling, n) for n in ("temperature", "top_p", "top_k", "min_p", "seed")}
    fields = {n: v for n, v in fields.items() if v is not None}
    if options.get("seed") is not None:
        fields["seed"] = options["seed"]
    max_tokens = sampling.max_tokens
    if server == "vllm":
        body = {"model": model, "prompt": ids, "logprobs": 0, "return_token_ids": True, "skip_special_tokens": False,
                "spaces_between_special_tokens": False, **fields}  # fmt: skip
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return f"{root}/v1/completions", body
    if server == "sglang":
        params: dict[str, Any] = {"skip_special_tokens": False, "spaces_between_special_tokens": False, **fields}
        if "seed" in params:
            params["sampling_seed"] = params.pop("seed")
        if max_tokens is not None:
            params["max_new_tokens"] = max_tokens
        return f"{root}/generate", {"input_ids": ids, "sampling_params": params, "return_logprob": True}
    body = {"prompt": ids, "n_probs": 1, "post_sampling_probs": False, "return_tokens": True, "cache_prompt": True,
            **fields}  # fmt: skip
    if max_tokens is not None:
        body["n_predict"] = max_tokens
    return f"{root}/completion", body


def answer(server: str, data: Any) -> tuple[list[int], list[float], bool]:
    """(generated ids, their logprobs, whether the token budget cut it) from `server`'s response."""
    try:
        if server == "vllm":
            choice = data["choices"][0]
            ids, logprobs = choice["token_ids"], choice["logprobs"]["token_logprobs"]
            cut = choice.get("finish_reason") == "length"
        elif server == "sglang":
            meta = data["meta_info"]
            ids, logprobs = data["output_ids"], [entry[0] for entry in meta["output_token_logprobs"]]
            cut = (meta.get("finish_reason") or {}).get("type") == "length"
        else:
            ids, logprobs = data["tokens"], _llama_logprobs(data["tokens"], data["completion_probabilities"])
            cut = data.get("stop_type") == "limit"
        ids, logprobs = [int(i) for i in ids], [float(p) for p in logprobs]
    except (KeyError, IndexError, TypeError, ValueError) as e:
        body = json.dumps(data)[:2000] if isinstance(data, (dict, list)) else None
        raise ModelError(f"the {server} server's answer has no token ids and logprobs ({type(e).__name__}: {e})",
                         body=body) from None  # fmt: skip
    if len(ids) != len(logprobs):
        raise ModelError(f"the {server} server returned {len(ids)} token ids but {len(logprobs)} logprobs")
    return ids, logprobs, cut


def respond(path: TokenPath, fmt: Format, prompt: list[int], forced: str, in_reasoning: bool, ids: list[int],
            logprobs: list[float], cut: bool, tools: Sequence[ToolSpec] | None, tool_choice: ToolChoice | None,
            messages: Sequence[Message]) -> list[ModelEvent]:  # fmt: skip
    """The response's events (it is read whole: its ids come at once), ending with `CompletionDone`,
    whose completion carries the tokens it came from; as `LocalModel` reads its own."""
    parser = fmt.stream_parser(in_reasoning=in_reasoning, tools=tools)
    events: list[ModelEvent] = [
        refused_event(e, tool_choice) for e in [*parser.feed(forced + path.decode(ids)), *parser.close()]
    ]
    usage = Usage(prompt_tokens=len(prompt), completion_tokens=len(ids))
    cut = cut and not path.ends(ids)
    out = parser.output
    done = Completion.from_output(out, usage=usage, finish_reason="length" if cut and not out.tool_calls else None)
    done.tokens = TokenRecord(prompt_ids=prompt, output_ids=ids, logprobs=logprobs)
    reasoned = reasoned_calls(fmt, done, tools=tools, tool_choice=tool_choice, messages=messages)
    events += call_events(reasoned, 0)
    events.append(CompletionDone(completion=refused(replace(done, tool_calls=reasoned) if reasoned else done,
                                                    tool_choice)))  # fmt: skip
    return events


def _llama_logprobs(ids: list[int], probs: list[dict[str, Any]]) -> list[float]:
    """llama.cpp's logprobs, one per generated id. Its server keeps no probability for a token
    that ends inside a UTF-8 character (a "°" split over two tokens): such a run cannot be
    recorded exactly, and says so."""
    out: list[float] = []
    entries = iter(probs)
    entry = next(entries, None)
    for i, token in enumerate(ids):
        if entry is None or int(entry["id"]) != int(token):
            raise ModelError(
                f"record=True: llama.cpp returned no logprob for generated token {i} (id {token}): its server "
                "drops the probability of a token that ends inside a UTF-8 character, so this response "
                "cannot be recorded exactly (vLLM and SGLang return every token's)"
            )
        out.append(float(entry["logprob"]))
        entry = next(entries, None)
    return out


def _text(message: Message) -> Message:
    out = wire_message("local", message, keep_reasoning=True)
    content = out.get("content")
    if content is None:
        out["content"] = ""
    elif not isinstance(content, str):
        raise UserError("record=True takes text-only conversations: image and video inputs are not tokens")
    if out.get("tool_calls"):
        out["tool_calls"] = template_calls(out["tool_calls"])
    return out


def _stop_ids(tokenizer: Any) -> set[int]:
    stops = {tokenizer.eos_token_id}
    for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            stops.add(tid)
    return {s for s in stops if isinstance(s, int)}
