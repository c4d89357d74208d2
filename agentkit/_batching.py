"""Continuous batching for `LocalModel`: concurrent calls share each forward pass.

One thread (started on the first request, gone when none is left) steps a dynamic batch: a
request that arrives while others generate is prefilled on its own (from its conversation's
cached KV, so a run's next turn computes only its new tokens), then its KV joins the batch's
left-padded cache and it decodes one token per step with the others. A finished, cancelled or
failed request leaves the batch at once; its KV goes back to the pool for its next turn.
Each request keeps its own sampling, logits processors, stop tokens, token budget and streamer.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ._continued import logprob_of
from ._serving import longest_prefix

__all__ = ["Batcher", "BatchRequest", "batchable", "poster"]

_PROMPT = "agentkit_turn_start"  # set on a pooled cache: where its prompt's generation prompt starts
# generate() keywords that are not GenerationConfig fields.
_CALL_KEYWORDS = ("eos_token_id", "pad_token_id", "logits_processor", "max_new_tokens")


def batchable(model: Any) -> bool:
    """Whether the model's cache is plain full attention (one DynamicLayer per layer), so that
    rows can be padded, joined and split; sliding-window and hybrid caches are left to generate."""
    import transformers

    try:
        cache = transformers.DynamicCache(config=model.config)
    except Exception:
        return False
    return bool(cache.layers) and all(type(layer) is transformers.cache_utils.DynamicLayer for layer in cache.layers)


def poster() -> Callable[..., Any]:
    """A thread-safe, non-blocking way to run a callback on the calling event loop."""
    try:
        import sniffio

        library = sniffio.current_async_library()
    except ImportError:
        library = "asyncio"
    if library == "trio":
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon  # type: ignore[no-any-return]
    return asyncio.get_running_loop().call_soon_threadsafe


class BatchRequest:
    """One call's generation: its prompt, options and callbacks, and its progress in the batch."""

    def __init__(
        self,
        *,
        ids: list[int],
        kwargs: dict[str, Any],
        reuse: bool,
        stop: threading.Event,
        on_token: Callable[[int], None],
        on_done: Callable[[list[int] | None, BaseException | None], None],
        turn_opener: int = 0,
        record: bool = False,
        seed: int | None = None,
    ) -> None:
        self.ids = ids
        self.kwargs = kwargs
        self.max_new = int(kwargs["max_new_tokens"])
        self.eos = frozenset(kwargs["eos_token_id"])
        self.reuse = reuse
        self.stop = stop
        self.on_token = on_token
        self.on_done = on_done
        self.turn_opener = turn_opener  # the generation prompt's length (see LocalModel._turn_opener)
        self.new: list[int] = []
        self.record = record  # keep each new token's logprob under the raw logits (record=True)
        self.logprobs: list[float] = []
        self.seed = seed
        self.generator: Any = None  # the request's own random numbers, when it has a seed
        self.length = 0  # tokens of this row in the KV cache
        self.processors: Any = None
        self.greedy = True
        self.ended = False


class Batcher:
    """Steps the requests of one model as one batch (at most `max_batch` rows; the rest wait).

    `lock` is the model's: held for each step, so that a call that does not batch (images,
    video) runs between steps. `pool` is the model's list of (token ids, KV cache), at most
    `slots` long, most recent last.
    """

    def __init__(self, model: Any, *, max_batch: int, slots: int, lock: threading.Lock,
                 pool: list[tuple[list[int], Any]], stats: dict[str, int]) -> None:  # fmt: skip
        self.model = model
        self.max_batch = max_batch
        self.slots = slots
        self.lock = lock
        self.pool = pool
        self.stats = stats
        self._mutex = threading.Lock()
        self._wake = threading.Condition(self._mutex)
        self._queue: deque[BatchRequest] = deque()
        self._thread: threading.Thread | None = None
        self._rows: list[BatchRequest] = []
        self._cache: Any = None  # the batch's KV: rows left-padded to one length
        parameters = inspect.signature(model.forward).parameters
        self._keep_arg = "logits_to_keep" in parameters
        # transformers 5 renames past_key_values= to cache=; older ones know only the former.
        self._cache_arg = "cache" if "cache" in parameters else "past_key_values"
        self.peak = 0  # the most rows stepped together (for tests and benchmarks)

    @property
    def running(self) -> int:
        """Requests in the batch now (not those waiting for a row)."""
        return len(self._rows)

    def submit(self, request: BatchRequest) -> None:
        with self._mutex:
            self._queue.append(request)
            self._wake.notify()
            if self._thread is None:
                # Not a daemon: at exit the interpreter waits for the step in progress (the thread
                # ends once no request is left) instead of tearing torch down under it.
                self._thread = threading.Thread(target=self._loop, name="agentkit-batcher")
                self._thread.start()

    # --- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        import torch

        while True:
            with self._mutex:
                if not self._queue and not self._rows:
                    # Between a run's turns (its tools running) the thread waits a little for the next
                    # call rather than ending: a new thread each turn also starts torch's threads anew.
                    self._wake.wait(_LINGER)
                joining = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self.max_batch - len(self._rows)))
                ]
                if not joining and not self._rows:
                    self._thread = None
                    return
            with self.lock, torch.inference_mode():
                try:
                    fresh = [(r, c) for r in joining if (c := self._join(r)) is not None]
                    if fresh:  # all in one copy of the batch's KV
                        self._merge(fresh)
                    if self._rows:
                        self._step()
                except BaseException as e:  # the shared forward failed: every row with it
                    for request in [*self._rows, *joining]:
                        self._end(request, e, save=False)
                    self._rows, self._cache = [], None

    def _end(self, request: BatchRequest, error: BaseException | None, *, save: bool, row: int | None = None,
             own: Any = None) -> None:  # fmt: skip
        if request.ended:
            return
        request.ended = True
        if save and error is None and request.reuse and self.slots:
            with contextlib.suppress(Exception):  # losing a cache only costs a prefill
                self._save(request, row, own)
        with contextlib.suppress(Exception):  # the caller's loop is gone: nobody to tell
            request.on_done(None if error else request.new, error)

    def _emit(self, request: BatchRequest, token: int, logits: Any) -> bool:
        """Record a token (`logits`: the raw ones it was picked from); whether the request is
        finished (stop token, budget, or cancelled)."""
        if request.record:
            request.logprobs.append(logprob_of(logits, token))
        request.new.append(token)
        request.on_token(token)
        return token in request.eos or len(request.new) >= request.max_new or request.stop.is_set()

    # --- a request joins -----------------------------------------------------------------------

    def _join(self, request: BatchRequest) -> Any:
        """Prefill a request; its one-row cache to merge into the batch, or None if it is over."""
        import torch
        import transformers

        if request.stop.is_set():
            self._end(request, None, save=False)
            return None
        try:
            ids = request.ids
            self._processors(request)
            cache, reused = self._take(ids) if request.reuse and self.slots else (None, 0)
            if cache is None:
                cache = transformers.DynamicCache(config=self.model.config)
            device = self.model.device
            logits = self._forward(
                torch.tensor([ids[reused:]], device=device),
                torch.ones(1, len(ids), dtype=torch.long, device=device),
                torch.arange(reused, len(ids), device=device).unsqueeze(0),
                cache,
            )
            request.length = len(ids)
            self.stats["prompt_tokens"] += len(ids)
            self.stats["reused_tokens"] += reused
            # transformers' processors return new scores: `row` stays the raw logits, for the logprob.
            row = logits[0:1]
            done = self._emit(request, self._pick(request, row)[0], row)
        except BaseException as e:
            self._end(request, e, save=False)
            return None
        if done:
            self._end(request, None, save=True, own=cache)
            return None
        return cache

    def _processors(self, request: BatchRequest) -> None:
        """The logits processors and warpers generate() would use for this call's options."""
        import torch
        from transformers import LogitsProcessorList

        config = copy.deepcopy(self.model.generation_config)
        config.update(**{k: v for k, v in request.kwargs.items() if k not in _CALL_KEYWORDS})
        config.max_new_tokens = request.max_new
        request.greedy = not config.do_sample
        if request.seed is not None and not request.greedy:
            request.generator = torch.Generator(device=self.model.device).manual_seed(request.seed)
        processors = self.model._get_logits_processor(
            generation_config=config,
            input_ids_seq_length=len(request.ids),
            encoder_input_ids=torch.tensor([request.ids]),
            logits_processor=request.kwargs.get("logits_processor") or LogitsProcessorList(),
            device=self.model.device,
            model_kwargs={},
        )
        request.processors = processors if len(processors) else None

    def _take(self, ids: list[int]) -> tuple[Any, int]:
        """The pooled KV with the longest common prefix with `ids`. A cache that `ids` extends (the
        conversation's own) is taken; one that only shares a prefix (the system prompt and tools)
        is copied up to it and left for its own conversation."""
        import transformers

        best, best_len = longest_prefix(self.pool, ids)
        if best is None:
            return None, 0
        cached_ids, cache = self.pool[best]
        keep = min(best_len, len(ids) - 1)  # the last prompt token must be computed
        # Up to the cached call's generation prompt, `ids` is that conversation's next turn (the
        # answer is rendered back after part of it at most): the cache is taken. Short of it,
        # only a prefix is shared (another conversation's system prompt and tools).
        if best_len >= getattr(cache, _PROMPT, len(cached_ids)):
            del self.pool[best]
            if keep < cache.get_seq_length():
                cache.crop(keep - cache.get_seq_length())
            return cache, keep
        copied = transformers.DynamicCache(config=self.model.config)
        for index, layer in enumerate(cache.layers):
            copied.update(layer.keys[:, :, :keep], layer.values[:, :, :keep], index)
        return copied, keep

    def _save(self, request: BatchRequest, row: int | None, own: Any) -> None:
        """Pool a finished request's KV: its own one-row cache, or its row of the batch's."""
        import transformers

        if own is not None:
            saved = own
        elif row is not None and self._cache is not None:
            saved = transformers.DynamicCache(config=self.model.config)
            for index, layer in enumerate(self._cache.layers):
                rows = slice(row, row + 1)
                saved.update(layer.keys[rows, :, -request.length :], layer.values[rows, :, -request.length :], index)
        else:
            return
        # The next turn renders this answer after part of the generation prompt at most.
        setattr(saved, _PROMPT, len(request.ids) - request.turn_opener)
        self.pool.append(((request.ids + request.new)[: request.length], saved))
        del self.pool[: -self.slots]

    # --- the batch ------------------------------------------------------------------------------

    def _merge(self, fresh: list[tuple[BatchRequest, Any]]) -> None:
        """Add one-row caches as the batch's last rows, all left-padded to the longest."""
        import torch

        caches = ([self._cache] if self._cache is not None else []) + [cache for _, cache in fresh]
        width = max(c.layers[0].keys.shape[2] for c in caches)
        merged = [
            (torch.cat([_pad(c.layers[i].keys, width - c.layers[i].keys.shape[2]) for c in caches], dim=0),
             torch.cat([_pad(c.layers[i].values, width - c.layers[i].values.shape[2]) for c in caches], dim=0))
            for i in range(len(caches[0].layers))
        ]  # fmt: skip
        if self._cache is None:
            self._cache = caches[0]
            self._cache.layers[:] = [_roomy(k, v) for k, v in merged]
        else:
            for layer, (k, v) in zip(self._cache.layers, merged, strict=True):
                layer.put(k, v)
        self._rows.extend(request for request, _ in fresh)
        self.peak = max(self.peak, len(self._rows))

    def _drop(self, rows: list[int]) -> None:
        """Remove rows from the batch, and the leading columns no remaining row uses."""
        import torch

        keep = [i for i in range(len(self._rows)) if i not in set(rows)]
        self._rows = [self._rows[i] for i in keep]
        if not self._rows:
            self._cache = None
            return
        index = torch.tensor(keep, device=self._cache.layers[0].keys.device)
        width = max(r.length for r in self._rows)
        for layer in self._cache.layers:
            layer.put(
                layer.keys.index_select(0, index)[:, :, -width:], layer.values.index_select(0, index)[:, :, -width:]
            )

    def _forward(self, ids: Any, mask: Any, positions: Any, cache: Any) -> Any:
        import torch

        extra = {"logits_to_keep": 1} if self._keep_arg else {}
        extra[self._cache_arg] = cache
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **extra)
        return out.logits[:, -1, :].to(copy=True, dtype=torch.float32)

    def _step(self) -> None:
        import torch

        rows = self._rows
        ended = [i for i, r in enumerate(rows) if r.stop.is_set()]  # cancelled since the last step
        for i in ended:
            self._end(rows[i], None, save=True, row=i)
        if ended:
            self._drop(ended)
            rows = self._rows
            if not rows:
                return
        device = self.model.device
        width = self._cache.layers[0].keys.shape[2] + 1
        lengths = torch.tensor([r.length for r in rows], device=device)
        mask = (torch.arange(width, device=device)[None, :] >= (width - 1 - lengths)[:, None]).long()
        last = torch.tensor([[r.new[-1]] for r in rows], device=device)
        logits = self._forward(last, mask, lengths[:, None], self._cache)
        plain = [i for i, r in enumerate(rows) if r.greedy and r.processors is None]
        argmax = logits.argmax(dim=-1).tolist() if plain else []
        finished = []
        for i, request in enumerate(rows):
            request.length += 1
            try:
                plain_row = request.greedy and request.processors is None
                row = logits[i : i + 1]
                token = argmax[i] if plain_row else self._pick(request, row)[0]
                if self._emit(request, token, row):
                    finished.append(i)
            except BaseException as e:  # this request's processors or streamer: the others go on
                self._end(request, e, save=False)
                finished.append(i)
        for i in finished:
            self._end(rows[i], None, save=True, row=i)
        if finished:
            self._drop(finished)

    def _pick(self, request: BatchRequest, logits: Any) -> list[int]:
        import torch

        scores = logits
        if request.processors is not None:
            seen = torch.tensor([request.ids + request.new], device=logits.device)
            scores = request.processors(seen, scores)
        if request.greedy:
            return [int(t) for t in scores.argmax(dim=-1).tolist()]
        probs = torch.nn.functional.softmax(scores, dim=-1)
        picked = torch.multinomial(probs, num_samples=1, generator=request.generator)
        return [int(t) for t in picked.reshape(-1).tolist()]


_LINGER = 0.5  # seconds the idle batcher thread waits for a next call before it ends
_ROOM = 64  # tokens of spare room in the batch's KV: steps write into it instead of copying it all


def _roomy(keys: Any, values: Any) -> Any:
    """A cache layer for the batch: DynamicLayer appends by torch.cat, which copies every row's
    whole KV on every token; this one writes each step into spare room and copies only when the
    room runs out (or when rows join or leave)."""
    global _Roomy
    if _Roomy is None:
        from transformers.cache_utils import DynamicLayer

        class Roomy(DynamicLayer):  # type: ignore[misc,no-untyped-call]
            def put(self, keys: Any, values: Any, room: int = _ROOM) -> None:
                shape = list(keys.shape)
                n, shape[2] = shape[2], shape[2] + room
                self.room_keys, self.room_values = keys.new_empty(shape), values.new_empty(shape)
                self.room_keys[:, :, :n], self.room_values[:, :, :n] = keys, values
                self.keys, self.values = self.room_keys[:, :, :n], self.room_values[:, :, :n]
                self.device, self.is_initialized, self.length = keys.device, True, n

            def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
                n, m = self.length, key_states.shape[2]
                if n + m > self.room_keys.shape[2]:
                    self.put(self.keys, self.values, room=max(_ROOM, n // 4) + m)
                self.room_keys[:, :, n : n + m], self.room_values[:, :, n : n + m] = key_states, value_states
                self.keys, self.values = self.room_keys[:, :, : n + m], self.room_values[:, :, : n + m]
                self.length = n + m
                return self.keys, self.values

        _Roomy = Roomy
    layer = _Roomy()
    layer.put(keys, values)
    return layer


_Roomy: Any = None


def _pad(tensor: Any, left: int) -> Any:
    import torch

    if left <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[2] = left
    return torch.cat([tensor.new_zeros(shape), tensor], dim=2)
