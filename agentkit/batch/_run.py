"""`run_many`: inputs read as slots free up, at most `concurrency` runs in flight, results in input order."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable, Sized
from contextlib import aclosing
from typing import Any

import anyio

from .._agent import Agent
from ..exceptions import UserError
from ._inputs import Item, item
from ._journal import Journal
from ._one import build_agent, run_one
from ._progress import Progress
from ._result import BatchResult

Execute = Callable[[Item], Awaitable[BatchResult]]
"""How a backend runs one input; it returns a failed run as a result, never raises for it."""


async def run_many(
    agent_or_factory: Agent[Any] | str | Callable[[], Agent[Any]],
    inputs: Iterable[Any] | AsyncIterable[Any],
    *,
    concurrency: int = 32,
    output: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    backend: str = "local",
    workers: int | None = None,
    **run_options: Any,
) -> list[BatchResult]:
    """Run the agent once per input, `concurrency` runs at a time; the results in input order.

    `inputs`: strings, message lists, or dicts ``{"id", "input", "deps", <run options>}``,
    read only as runs finish (a generator of a million inputs is fine). A run that fails is a
    `BatchResult` whose `error` says why. `output`: a JSONL file, a line per finished run,
    flushed as it finishes; `resume` skips the ids already in it. `run_options` go to every
    ``agent.run`` (a dict input's own options win); an unknown one is a `UserError` before any
    run. `backend="ray"` spreads the runs over `workers` Ray actors (default: one per CPU of the
    cluster), each building its agent from `agent_or_factory`, a ``"module:function"`` or a callable.
    A bad input, an id given twice, or (on resume) an id whose line in `output` was written for
    another input, is a `UserError` once the runs in flight have finished. Lines that cannot be
    written (a full disk) stop nothing: an `OutputFileError` holding every result comes after the batch.
    """
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise UserError(f"concurrency must be a positive int, not {concurrency!r}")
    if resume and output is None:
        raise UserError("resume=True needs output= (the file whose runs are skipped)")
    if backend == "local":
        agent = build_agent(agent_or_factory)
        agent._options(dict(run_options))  # an unknown option fails here, before any run

        async def run_here(it: Item) -> BatchResult:
            return await run_one(agent, it, run_options)

        return await drive(inputs, run_here, concurrency=concurrency, output=output, resume=resume, progress=progress)
    if backend == "ray":
        from ._ray import ray_backend

        async with ray_backend(agent_or_factory, run_options, workers=workers, concurrency=concurrency) as execute:
            return await drive(inputs, execute, concurrency=concurrency, output=output, resume=resume,
                               progress=progress)  # fmt: skip
    raise UserError(f"backend must be 'local' or 'ray', not {backend!r}")


async def drive(
    inputs: Iterable[Any] | AsyncIterable[Any],
    execute: Execute,
    *,
    concurrency: int,
    output: str | os.PathLike[str] | None,
    resume: bool,
    progress: bool,
) -> list[BatchResult]:
    """Feed `inputs` to `execute`, never more than `concurrency` at once; write each result as it comes."""
    journal = Journal(output, resume=resume) if output is not None else None
    total = len(inputs) if isinstance(inputs, Sized) else None
    bar = Progress(enabled=progress, total=total, initial=journal.count if journal is not None else 0)
    results: dict[int, BatchResult] = {}
    seen: set[str] = set()
    slots = anyio.Semaphore(concurrency)
    failure: BaseException | None = None
    count = 0

    async def one(it: Item) -> None:
        try:
            result = await execute(it)
            results[it.index] = result
            if journal is not None:
                journal.write(it, result)  # never raises: a line it cannot write is reported after the batch
            bar.finished(result)
        finally:
            slots.release()

    try:
        async with anyio.create_task_group() as tg:
            try:
                async with aclosing(_lazily(inputs, slots)) as lazily:
                    async for raw in lazily:
                        try:
                            it = item(raw, count)
                            if it.key in seen:
                                raise UserError(f"input {count}: id {it.id!r} was given before; ids must be unique")
                            previous = journal.previous(it) if journal is not None else None
                        except UserError:
                            slots.release()
                            raise
                        seen.add(it.key)
                        count += 1
                        if previous is not None:
                            results[it.index] = dataclasses.replace(previous, skipped=True)
                            slots.release()
                            continue
                        bar.started()
                        tg.start_soon(one, it)
            except Exception as e:
                # A bad input, or the inputs' own error: the runs in flight still finish and are written.
                failure = e
    finally:
        bar.close()
        if journal is not None:
            journal.close()
    problem = journal.problem() if journal is not None else None
    if failure is not None:
        if problem is not None:
            failure.add_note(f"{problem}; a resume runs these again")
        raise failure
    ordered = [results[i] for i in range(count)]
    unwritten = journal.failure(ordered) if journal is not None else None
    if unwritten is not None:
        raise unwritten
    return ordered


async def _lazily(inputs: Iterable[Any] | AsyncIterable[Any], slots: anyio.Semaphore) -> AsyncGenerator[Any, None]:
    """The inputs, each read only once a slot is free (the slot is the caller's to release)."""
    if isinstance(inputs, AsyncIterable):
        following = aiter(inputs).__anext__
    else:
        iterator = iter(inputs)

        async def following() -> Any:
            try:
                return next(iterator)
            except StopIteration:
                raise StopAsyncIteration from None

    while True:
        await _take(slots)
        try:
            raw = await following()
        except StopAsyncIteration:
            slots.release()
            return
        except BaseException:
            slots.release()
            raise
        yield raw


async def _take(slots: anyio.Semaphore) -> None:
    """A slot; at once, without yielding to the event loop, when one is free. (`acquire` always
    yields: on a busy loop the feeder then starts one run per loop pass and the slots stay empty.)"""
    try:
        slots.acquire_nowait()
    except anyio.WouldBlock:
        await slots.acquire()
