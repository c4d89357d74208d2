"""`LocalModel`: a transformers chat model as a `Model`, with KV-cache reuse across turns."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import warnings
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread

from ._batching import Batcher, BatchRequest, batchable, poster
from ._chunks import call_events
from ._continued import KeepRaw, check_tokenizer, continued_ids, logprob_of, stand_in_ids
from ._dialects import template_calls, wire_message
from ._grammar import JsonConstraint, schema_of
from ._loading import load_pretrained
from ._model import (
    Completion,
    CompletionDone,
    Message,
    ModelEvent,
    Sampling,
    ToolChoice,
    ToolSpec,
    Usage,
    check_options,
    default_sampling,
    tool_schemas,
)
from ._reasoned import reasoned_calls
from ._refused import refused, refused_event
from ._serving import _Gate, _Stop, _Streamer, longest_prefix
from ._tokens import TokenRecord, TokenRequest
from ._video import VIDEO_EXTRA, decode_videos, processor_part
from .exceptions import UserError
from .formats import QWEN3, Format, ParsedOutput, detect_format, get_format

__all__ = ["LocalModel"]

DEMO_PATH = Path(__file__).parent / "_demo"
DEMO_ROLES = {"weather": (DEMO_PATH, "build_demo_model.py"), "router": (DEMO_PATH / "router", "build_router_model.py")}
# Per model call: room for a short thought and two calls with long names (the held-out
# evaluation in tools/build_demo_model.py uses the same budget).
DEMO_MAX_TOKENS = 256
OPTIONS = frozenset({"temperature", "top_p", "top_k", "min_p", "max_tokens", "seed", "response_format"})
_INTEGER_OPTIONS = ("top_k", "max_tokens", "seed")
_SCHEMA = "_agentkit_json_schema"  # the generate keyword's stand-in until the grammar is built
_SEED = "_agentkit_seed"  # not a generate keyword: the call seeds its own random numbers
logger = logging.getLogger("agentkit")


def _backend() -> tuple[Any, Any]:
    """(torch, transformers), imported on first use: `agentkit` itself must load without them."""
    try:
        import torch
        import transformers
    except ImportError as e:
        raise UserError(
            f"LocalModel needs torch and transformers ({e}): pip install 'agentkit[local]' "
            "(install torch first, pinned, e.g. pip install torch==2.13.0, to avoid CUDA downloads)"
        ) from e
    return torch, transformers


_default_sampling = default_sampling  # the name the tests know


class LocalModel:
    """A Hugging Face chat model run in-process through transformers.

    The conversation is rendered with the model's own chat template (tools and
    ``enable_thinking`` passed through), the output parsed with the format detected from that
    template. With `kv_reuse`, the KV cache of recent calls is kept (`cache_slots` of them) and
    a new prompt that extends a cached one only computes its new tokens.
    """

    options: frozenset[str] = OPTIONS
    """The keyword options `complete` and `stream` take: the `Sampling` fields."""
    records: bool = True
    """It records a run's exact tokens and logprobs (``record=True``; `complete`/`stream` take
    ``record=TokenRequest`` and set `Completion.tokens`)."""

    def __init__(
        self,
        model_id_or_path: str | Path,
        *,
        device_map: str | dict[str, Any] | None = "auto",
        dtype: str | Any = "auto",
        trust_remote_code: bool = True,
        sampling: Sampling | None = None,
        kv_reuse: bool = True,
        cache_slots: int = 1,
        format: str | Format | None = None,
        batching: bool | None = None,
        max_batch: int = 16,
    ) -> None:
        _, transformers = _backend()
        path = str(model_id_or_path)
        model, processor = load_pretrained(
            transformers, path, device_map=device_map, dtype=dtype, trust_remote_code=trust_remote_code
        )
        self._setup(model, processor, sampling or _default_sampling(path), kv_reuse, cache_slots, format)
        self._batching(batching, max_batch)

    @classmethod
    def from_objects(
        cls,
        model: Any,
        processor_or_tokenizer: Any,
        *,
        sampling: Sampling | None = None,
        kv_reuse: bool = True,
        cache_slots: int = 1,
        format: str | Format | None = None,
        batching: bool | None = None,
        max_batch: int = 16,
    ) -> LocalModel:
        """Wrap a model and processor (or tokenizer) that are already loaded."""
        _backend()
        self = cls.__new__(cls)
        name = str(getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", ""))
        self._setup(model, processor_or_tokenizer, sampling or _default_sampling(name), kv_reuse, cache_slots, format)
        self._batching(batching, max_batch)
        return self

    @classmethod
    def demo(cls, role: str = "weather", **options: Any) -> LocalModel:
        """agentkit's built-in tiny offline models: `role` "weather" (the weather tools) or "router" (_demo/routing)."""
        torch, _ = _backend()
        if role not in DEMO_ROLES:
            raise UserError(f"the demo model's role is 'weather' or 'router', not {role!r}")
        path, builder = DEMO_ROLES[role]
        if not (path / "model.safetensors").exists():
            raise UserError(f"the demo model is missing from {path}; run tools/{builder}")
        options.setdefault("sampling", Sampling(temperature=0, max_tokens=DEMO_MAX_TOKENS))
        options.setdefault("device_map", None)
        options.setdefault("dtype", torch.float32)
        return cls(path, **options)

    @property
    def takes_images(self) -> bool:
        """Whether image parts reach the model (it has a processor with an image processor)."""
        return self.processor is not self.tokenizer and getattr(self.processor, "image_processor", None) is not None

    def _setup(
        self,
        model: Any,
        processor: Any,
        sampling: Sampling,
        kv_reuse: bool,
        cache_slots: int,
        format: str | Format | None,
    ) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.sampling = sampling
        self.kv_reuse = kv_reuse
        self.cache_slots = max(0, cache_slots) if kv_reuse else 0
        template = getattr(processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)
        if isinstance(template, dict):
            template = template.get("default") or next(iter(template.values()), None)
        if format is not None:
            self.format = get_format(format) if isinstance(format, str) else format
        else:
            self.format = (detect_format(template) if isinstance(template, str) else None) or QWEN3
        # The padding token is not among them: it may be an ordinary token (GPT-2's "!", id 0).
        eos = {self.tokenizer.eos_token_id}
        for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                eos.add(tid)
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        self._eos = {e for e in eos if isinstance(e, int)}
        self._gate = _Gate()  # one generation at a time: one cache, one model
        self._caches: list[tuple[list[int], Any]] = []
        self.stats = {"prompt_tokens": 0, "reused_tokens": 0}
        self._json: JsonConstraint | None = None  # built on the first response_format
        self._constraint_lock = threading.Lock()
        self._lock = threading.Lock()  # the model and its caches: one generate() or batch step at a time
        self._batcher: Batcher | None = None
        self._openers: dict[bool | None, int] = {}
        self._stand_ins: dict[str, list[int]] = {}  # a recorded call's stand-in tokens, by tools and thinking

    def _batching(self, batching: bool | None, max_batch: int) -> None:
        """Concurrent text calls share forward passes (see agentkit/_batching.py): on by default
        where it is exact (a plain full-attention KV cache), `batching=False` turns it off."""
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise UserError(f"max_batch must be a positive int, not {max_batch!r}")
        if batching is False or not (batchable(self.model) or batching):
            return
        if not batchable(self.model):
            raise UserError("batching=True needs a model whose KV cache is plain full attention, not sliding or hybrid")
        # Every running conversation keeps its KV for its next turn.
        slots = max(self.cache_slots, max_batch) if self.cache_slots else 0
        self._batcher = Batcher(self.model, max_batch=max_batch, slots=slots, lock=self._lock, pool=self._caches,
                                stats=self.stats)  # fmt: skip

    # --- prompt ------------------------------------------------------------------------------

    def _render(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None, thinking: bool | None,
        tool_choice: ToolChoice | None, record: TokenRequest | None = None,
    ) -> tuple[dict[str, Any], str, bool]:  # fmt: skip
        """(inputs, text forced on the model, whether the output starts inside ``<think>``).

        A recorded call after the run's first (`record` has ids) is fed `record.ids` extended by
        the tokens of the messages after `record.seen`, never a rendering of the whole conversation.
        """
        kwargs: dict[str, Any] = {}
        if thinking is not None:
            kwargs["enable_thinking"] = thinking
        schemas = tool_schemas(tools) if tool_choice != "none" else None
        if schemas:
            kwargs["tools"] = schemas
        if record is not None and record.ids:
            return self._continue(messages, record, kwargs, tool_choice, bool(schemas))
        converted = [self._message(m) for m in messages]
        has_video = any(
            p.get("type") == "video" for m in converted if isinstance(m.get("content"), list) for p in m["content"]
        )
        if has_video:
            converted, video_kwargs = decode_videos(self.processor, converted)
            if video_kwargs:  # transformers 5 takes the processor's own options as processor_kwargs
                kwargs["processor_kwargs"] = video_kwargs
        try:
            inputs = self.processor.apply_chat_template(
                converted, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt", **kwargs
            )
        except ImportError as e:
            if has_video:
                raise UserError(f"reading video needs a video decoder: {VIDEO_EXTRA} ({e})") from e
            raise
        if record is not None and set(inputs) - {"input_ids", "attention_mask"}:
            raise UserError("record=True takes text-only conversations: image and video inputs are not tokens")
        return self._forced(dict(inputs), tool_choice, bool(schemas))

    def check_recording(self) -> None:
        """A UserError when the chat template cannot continue a recorded run (checked before any call)."""
        check_tokenizer(self.tokenizer, self._eos)

    def _continue(self, messages: Sequence[Message], record: TokenRequest, kwargs: dict[str, Any],
                  tool_choice: ToolChoice | None, has_tools: bool) -> tuple[dict[str, Any], str, bool]:  # fmt: skip
        """`_render` for a recorded call after the first: the run's ids, then the new messages'."""
        import torch

        new = [self._message(m) for m in messages[record.seen :]]
        if any(not isinstance(m.get("content"), str) for m in new):
            raise UserError("record=True takes text-only conversations: image and video inputs are not tokens")

        def render(conversation: list[Message], generation_prompt: bool) -> list[int]:
            out = self.tokenizer.apply_chat_template(conversation, add_generation_prompt=generation_prompt,
                                                     tokenize=True, return_dict=True, **kwargs)  # fmt: skip
            return [int(t) for t in out["input_ids"]]

        # The stand-in's tokens depend only on the tools and thinking: kept (a few) across calls.
        key = json.dumps(kwargs, sort_keys=True, default=str)
        base = self._stand_ins.get(key)
        if base is None:
            if len(self._stand_ins) >= 8:
                self._stand_ins.clear()
            base = self._stand_ins[key] = stand_in_ids(render)
        ids = continued_ids(render, record.ids, new, self._eos, base)
        inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
        return self._forced(inputs, tool_choice, has_tools)

    def _forced(self, inputs: dict[str, Any], tool_choice: ToolChoice | None,
                has_tools: bool) -> tuple[dict[str, Any], str, bool]:  # fmt: skip
        import torch

        forced = ""
        in_reasoning = self._opens_think(inputs["input_ids"][0].tolist())
        if has_tools and tool_choice not in (None, "auto", "none") and not in_reasoning:
            # No grammar here: a required call is started for the model, which continues it.
            forced = self.format.forced_call_start(None if tool_choice == "required" else tool_choice)
            extra = self.tokenizer.encode(forced, add_special_tokens=False, return_tensors="pt")
            inputs["input_ids"] = torch.cat([inputs["input_ids"], extra], dim=1)
            inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        return inputs, forced, in_reasoning and not forced

    @property
    def constrains_json(self) -> bool:
        """Whether ``response_format`` is enforced here (xgrammar is installed: ``agentkit[grammar]``)."""
        import importlib.util

        return importlib.util.find_spec("xgrammar") is not None

    def _constraint(self) -> JsonConstraint:
        with self._constraint_lock:
            if self._json is None:
                vocab = int(self.model.config.get_text_config().vocab_size)
                self._json = JsonConstraint(self.tokenizer, vocab, self._eos)
            return self._json

    def _opens_think(self, ids: list[int]) -> bool:
        tail = self.tokenizer.decode(ids[-8:], skip_special_tokens=False)
        return bool(tail.rstrip().endswith("<think>"))

    def _message(self, message: Message) -> Message:
        out = wire_message("local", message, keep_reasoning=True)  # reasoning as templates read it
        content = out.get("content")
        if isinstance(content, list):
            parts = [processor_part(p) for p in content]
            if self.tokenizer is self.processor:  # no processor: text only
                if any(p["type"] != "text" for p in parts):
                    raise UserError("this model has no processor: it takes text only, not images or video")
                out["content"] = "".join(p["text"] for p in parts)
            else:
                out["content"] = parts
        elif content is None:
            out["content"] = ""
        if out.get("tool_calls"):
            out["tool_calls"] = template_calls(out["tool_calls"])
        return out

    # --- generation ----------------------------------------------------------------------------

    def _kwargs(self, options: dict[str, Any]) -> dict[str, Any]:
        """`generate` keywords for a call's options (checked here, so that bad ones fail at once).

        A sampling field that is set applies, one left None keeps the model's generation config:
        temperature 0 is greedy; any other sampling field set means sampling (at the model's
        default temperature when none is given).
        """
        check_options("LocalModel", options, self.options)
        options = dict(options)
        schema = schema_of(options.pop("response_format")) if options.get("response_format") is not None else None
        options.pop("response_format", None)
        for name, value in options.items():
            kinds = int if name in _INTEGER_OPTIONS else (int, float)
            if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
                raise UserError(f"option {name} must be a number, not {value!r}")
        sampling = self.sampling.merged(**options)
        if sampling.max_tokens is not None and sampling.max_tokens < 1:
            raise UserError(f"max_tokens must be at least 1, not {sampling.max_tokens}")
        kwargs: dict[str, Any] = {"max_new_tokens": 2048 if sampling.max_tokens is None else sampling.max_tokens}
        if sampling.temperature == 0:
            kwargs["do_sample"] = False  # the other fields do not apply to greedy decoding
        else:
            fields = {n: getattr(sampling, n) for n in ("temperature", "top_p", "top_k", "min_p")}
            chosen = {n: v for n, v in fields.items() if v is not None}
            if chosen:
                kwargs.update(do_sample=True, **chosen)
        if sampling.seed is not None:
            kwargs[_SEED] = sampling.seed
        kwargs["eos_token_id"] = sorted(self._eos)
        pad = self.tokenizer.pad_token_id
        kwargs["pad_token_id"] = pad if pad is not None else min(self._eos)
        if schema is not None:
            kwargs[_SCHEMA] = schema  # made into a grammar once the prompt is known (see _stream)
        return kwargs

    def _take_cache(self, ids: list[int]) -> tuple[Any, int]:
        """The cached KV with the longest common prefix with `ids`, cropped to it."""
        best, best_len = longest_prefix(self._caches, ids)
        if best is None:
            return None, 0
        _, cache = self._caches.pop(best)
        keep = min(best_len, len(ids) - 1)  # the last prompt token must be computed
        current = cache.get_seq_length()
        if keep < current:
            cache.crop(keep - current)
        return cache, keep

    def _generate(self, inputs: dict[str, Any], kwargs: dict[str, Any], stop: threading.Event,
                  streamer: _Streamer | None, record: bool = False,
                  seed: int | None = None) -> tuple[list[int], int, list[float]]:  # fmt: skip
        """Runs in a worker thread, holding the gate. Returns (new token ids, prompt length, and
        with `record` their logprobs under the raw logits)."""
        import torch
        import transformers

        device = getattr(self.model, "device", None)
        dtype = getattr(self.model, "dtype", None)
        batch = {
            k: (v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device)) if hasattr(v, "to") else v
            for k, v in inputs.items()
        }
        ids = batch["input_ids"][0].tolist()
        # Images and video are placeholder tokens in the ids: equal ids do not mean equal inputs,
        # so only text-only prompts share caches.
        reuse = self.cache_slots > 0 and set(batch) <= {"input_ids", "attention_mask"}
        if record:  # the logits before any processor, one per new token
            kwargs = {**kwargs, "output_logits": True, "return_dict_in_generate": True}
        # A seed applies to this call only: the process's random state is restored after it.
        rng = _forked_rng(device) if seed is not None else contextlib.nullcontext()
        with self._lock, torch.inference_mode(), warnings.catch_warnings(), rng:
            if seed is not None:
                torch.manual_seed(seed)
            # transformers 5 renames generate(past_key_values=) to cache=; older ones know only the former.
            warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)
            cache, reused = self._take_cache(ids) if reuse else (None, 0)
            if reuse and cache is None:
                cache = transformers.DynamicCache(config=self.model.config)
            out = self.model.generate(
                **batch, **kwargs, past_key_values=cache, streamer=streamer,
                stopping_criteria=transformers.StoppingCriteriaList([_Stop(stop)]),
            )  # fmt: skip
            sequences = out.sequences if record else out
            new = sequences[0, len(ids) :].tolist()
            logprobs = [logprob_of(out.logits[i][0], t) for i, t in enumerate(new)] if record else []
            if reuse and cache is not None:
                cached_len = cache.get_seq_length()
                self._caches.append(((ids + new)[:cached_len], cache))
                del self._caches[: -self.cache_slots]
            self.stats["prompt_tokens"] += len(ids)
            self.stats["reused_tokens"] += reused
        return new, len(ids), logprobs

    def _turn_opener(self, thinking: bool | None) -> int:
        """How many tokens the generation prompt adds (the next turn renders the answer after
        part of it): a cached prompt continued up to here is the same conversation's."""
        if thinking not in self._openers:
            kwargs = {} if thinking is None else {"enable_thinking": thinking}
            turn = [{"role": "user", "content": "x"}]
            with contextlib.suppress(Exception):  # no estimate: only the exact prompt counts
                lengths = [len(self.tokenizer.apply_chat_template(turn, add_generation_prompt=g, tokenize=True,
                                                                  return_dict=True, **kwargs)["input_ids"])
                           for g in (False, True)]  # fmt: skip
                self._openers[thinking] = max(0, lengths[1] - lengths[0])
        return self._openers.get(thinking, 0)

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode([t for t in ids if t not in self._eos], skip_special_tokens=False))

    def _completion(self, out: ParsedOutput, new: list[int], prompt_len: int, max_new: int,
                    tokens: TokenRecord | None = None) -> Completion:  # fmt: skip
        cut = len(new) >= max_new and not (new and new[-1] in self._eos)
        usage = Usage(prompt_tokens=prompt_len, completion_tokens=len(new))
        done = Completion.from_output(out, usage=usage, finish_reason="length" if cut and not out.tool_calls else None)
        done.tokens = tokens
        return done

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] | None = None,
        thinking: bool | None = None,
        tool_choice: ToolChoice | None = None,
        **options: Any,
    ) -> Completion:
        completion = None
        async with contextlib.aclosing(
            self.stream(messages, tools=tools, thinking=thinking, tool_choice=tool_choice, **options)
        ) as events:
            async for event in events:
                if isinstance(event, CompletionDone):
                    completion = event.completion
        assert completion is not None
        return completion

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] | None = None,
        thinking: bool | None = None,
        tool_choice: ToolChoice | None = None,
        **options: Any,
    ) -> AsyncGenerator[ModelEvent, None]:
        """The response as events, ending with `CompletionDone`; bad `options` raise `UserError` here.

        ``record=TokenRequest(...)`` (a recorded run's, see `agentkit._tokens`) feeds the run's
        tokens and sets `Completion.tokens`."""
        record = options.pop("record", None)
        if record is not None and not isinstance(record, TokenRequest):
            raise UserError(f"record must be a TokenRequest, not {type(record).__name__}")
        return self._stream(messages, tools, thinking, tool_choice, self._kwargs(options), record)

    async def _stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None, thinking: bool | None,
        tool_choice: ToolChoice | None, kwargs: dict[str, Any], record: TokenRequest | None = None,
    ) -> AsyncGenerator[ModelEvent, None]:  # fmt: skip
        inputs, forced, in_reasoning = self._render(messages, tools, thinking, tool_choice, record)
        recording = record is not None
        seed = kwargs.pop(_SEED, None)
        schema = kwargs.pop(_SCHEMA, None)
        if schema is not None:
            if in_reasoning or forced:
                # The answer starts with reasoning or a forced call, not with the JSON: no grammar.
                logger.info("response_format is not enforced on an answer that starts with thinking or a call")
            else:
                from transformers import LogitsProcessorList

                processors = self._constraint().processors(schema)
                if recording:  # they mask in place: the recorded logprobs are read from the raw logits
                    processors = [KeepRaw(), *processors]
                kwargs = {**kwargs, "logits_processor": LogitsProcessorList(processors)}
        parser = self.format.stream_parser(in_reasoning=in_reasoning, tools=tools)
        send, receive = anyio.create_memory_object_stream[str](math.inf)
        stop = threading.Event()
        result: list[tuple[list[int], int, list[float]]] = []
        failure: list[BaseException] = []

        def on_text(text: str) -> None:
            if not stop.is_set():
                anyio.from_thread.run_sync(send.send_nowait, text)

        def work() -> None:
            try:
                streamer = _Streamer(self._decode, on_text)
                result.append(self._generate(inputs, kwargs, stop, streamer, recording, seed))
            except BaseException as e:
                failure.append(e)
            finally:
                anyio.from_thread.run_sync(send.close)

        async def run() -> None:
            await self._gate.acquire()  # cancellable while queued
            try:
                # Not abandoned on cancel: the stop event ends generate() within one token, and
                # the thread is awaited so that none is left running.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(work)
            finally:
                self._gate.release()

        # Text-only prompts join the batch; images and video take the one-at-a-time path.
        batcher = self._batcher if set(inputs) <= {"input_ids", "attention_mask"} else None
        if batcher is not None:
            post = poster()

            def post_text(text: str) -> None:  # from the batcher's thread: posted, not awaited
                if not stop.is_set():
                    post(_send_quietly, send, text)

            streamer = _Streamer(self._decode, post_text)
            streamer.prompt_seen = True  # the batcher passes only new tokens

            def on_done(new: list[int] | None, error: BaseException | None) -> None:
                try:
                    if error is not None:
                        raise error
                    streamer.end()
                    result.append((new or [], len(ids), request.logprobs))
                except BaseException as e:  # the caller gets it: never a stream left open (it would wait forever)
                    failure.append(e)
                finally:
                    post(send.close)

            ids = inputs["input_ids"][0].tolist()
            request = BatchRequest(ids=ids, kwargs=kwargs, reuse=self.cache_slots > 0, stop=stop, on_done=on_done,
                                   on_token=lambda token: streamer.put(_token_tensor(token)),
                                   turn_opener=self._turn_opener(thinking), record=recording,
                                   seed=seed)  # fmt: skip

        async with anyio.create_task_group() as tg:
            if batcher is not None:
                batcher.submit(request)
            else:
                tg.start_soon(run)
            try:
                if forced:
                    for event in parser.feed(forced):
                        yield refused_event(event, tool_choice)
                async with receive:
                    async for text in receive:
                        for event in parser.feed(text):
                            yield refused_event(event, tool_choice)
            except GeneratorExit:
                stop.set()  # the consumer left: generation ends at the next token
                return
            finally:
                stop.set()
        if failure:
            raise failure[0]
        for event in parser.close():
            yield refused_event(event, tool_choice)
        new, prompt_len, logprobs = result[0]
        fed = inputs["input_ids"][0].tolist()
        tokens = TokenRecord(prompt_ids=fed, output_ids=new, logprobs=logprobs) if recording else None
        done = self._completion(parser.output, new, prompt_len, kwargs["max_new_tokens"], tokens)
        reasoned = reasoned_calls(self.format, done, tools=tools, tool_choice=tool_choice, messages=messages)
        for rescued in call_events(reasoned, 0):
            yield rescued
        yield CompletionDone(completion=refused(replace(done, tool_calls=reasoned) if reasoned else done, tool_choice))


def _forked_rng(device: Any) -> Any:
    import torch

    if getattr(device, "type", "cpu") == "cpu":
        return torch.random.fork_rng(devices=[])
    return torch.random.fork_rng(devices=[device.index or 0], device_type=device.type)


def _send_quietly(send: Any, text: str) -> None:
    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
        send.send_nowait(text)


def _token_tensor(token: int) -> Any:
    import torch

    return torch.tensor([token])
