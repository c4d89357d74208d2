"""`run_many`: inputs read as slots free up, at most `concurrency` runs in flight, results in input order."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable, Sized
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import anyio

from .._agent import Agent
from ..exceptions import UserError
from ._inputs import Item, item
from ._journal import Journal
from ._one import build_agent, check_options, run_one
from ._progress import Progress
from ._result import BatchResult
from ._reward import REWARD_STOPPED, REWARD_TIMEOUT, Reward, check_timeout, load_reward, rescorable, score

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
    group_size: int = 1,
    reward: Reward | str | None = None,
    reward_timeout: float | None = REWARD_TIMEOUT,
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

    `group_size`: runs per input (each a `BatchResult` with `group`, the input's id, and `sample`,
    0 to n-1, when n > 1; resume goes by (id, sample)). `reward`: a function of each finished
    run's `BatchResult` (or a ``"module:function"``), sync or async, that sets its `reward`; one
    that raises leaves the run's output, with `reward` None and an `error` saying the reward failed.
    `reward_timeout`: seconds an async reward may take (None: no limit). On resume, a recorded run
    whose reward failed is scored again from its line, not run again.
    """
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise UserError(f"concurrency must be a positive int, not {concurrency!r}")
    if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 1:
        raise UserError(f"group_size must be a positive int, not {group_size!r}")
    scorer = load_reward(reward)
    timeout = check_timeout(reward_timeout)

    async def go(execute: Execute) -> list[BatchResult]:
        return await drive(inputs, execute, concurrency=concurrency, output=output, resume=resume, progress=progress,
                           group_size=group_size, reward=scorer, reward_timeout=timeout)  # fmt: skip

    if resume and output is None:
        raise UserError("resume=True needs output= (the file whose runs are skipped)")
    if backend == "local":
        agent = build_agent(agent_or_factory)
        check_options(agent, run_options)  # an unknown option fails here, before any run

        async def run_here(it: Item) -> BatchResult:
            return await run_one(agent, it, run_options)

        return await go(run_here)
    if backend == "ray":
        from ._ray import ray_backend

        async with ray_backend(agent_or_factory, run_options, workers=workers, concurrency=concurrency) as execute:
            return await go(execute)
    raise UserError(f"backend must be 'local' or 'ray', not {backend!r}")


async def drive(
    inputs: Iterable[Any] | AsyncIterable[Any],
    execute: Execute,
    *,
    concurrency: int,
    output: str | os.PathLike[str] | None,
    resume: bool,
    progress: bool,
    group_size: int = 1,
    reward: Reward | None = None,
    reward_timeout: float | None = None,
) -> list[BatchResult]:
    """Feed `inputs` to `execute`, `group_size` runs each, never more than `concurrency` at once;
    score and write each result as it comes."""
    scored = group_size > 1 or reward is not None
    journal = Journal(output, resume=resume, scored=scored) if output is not None else None
    total = len(inputs) * group_size if isinstance(inputs, Sized) else None
    bar = Progress(enabled=progress, total=total, initial=journal.count if journal is not None else 0)
    results: dict[tuple[int, int], BatchResult] = {}
    seen: set[str] = set()
    slots = anyio.Semaphore(concurrency)
    failure: BaseException | None = None
    count = 0

    async def one(it: Item, done: BatchResult | None = None) -> None:
        """Run `it` (or take `done`, read back on resume, to score it again), score it, write its line."""
        try:
            if done is None:
                result = await execute(it)
            else:
                result, result.error = done, None
            result.group, result.sample = it.id, it.sample
            if reward is not None:
                try:
                    await score(reward, result, timeout=reward_timeout)
                except BaseException:
                    # Stopped while the reward ran: the run itself finished and its tools ran, so its
                    # line is written now (a resume does not run it again; with a reward, scores it).
                    result.error, result.reward = REWARD_STOPPED, None
                    if journal is not None:
                        journal.write(it, result)
                    raise
            results[it.slot] = result
            if journal is not None:
                journal.write(it, result)  # never raises: a line it cannot write is reported after the batch
            if done is None:
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
                        except UserError:
                            slots.release()
                            raise
                        seen.add(it.key)
                        count += 1
                        held = True  # the slot the input was read with: its first run to go takes it
                        # Each sample is made as it goes: a group of a million holds no million copies first.
                        for n in range(group_size) if group_size > 1 else (None,):
                            member = it if n is None else replace(it, sample=n)
                            try:
                                done = journal.previous(member) if journal is not None else None
                            except UserError:
                                if held:
                                    slots.release()
                                raise
                            if done is not None and not (reward is not None and rescorable(done)):
                                done.group, done.sample = member.id, member.sample
                                done.skipped = True  # not run: its result was in the file
                                results[member.slot] = done
                                continue
                            if not held:
                                await _take(slots)
                            held = False
                            if done is None:
                                bar.started()
                            tg.start_soon(one, member, done)
                        if held:
                            slots.release()
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
    ordered = [results[i, n] for i in range(count) for n in range(group_size)]
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
