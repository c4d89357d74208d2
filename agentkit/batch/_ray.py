"""``backend="ray"``: the runs spread over Ray actors, each building its own agent and running many runs at once.

The driver reads the inputs, bounds what is in flight and alone writes the output file; a worker
only runs. An actor that dies is restarted by Ray, but its runs in flight are never retried: their
tools may have run (a payment made, a file deleted), and a retry would run them again.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from .._agent import Agent
from ..exceptions import UserError
from ._inputs import Item
from ._result import BatchResult

DIED = "the Ray worker running this input died; tools the run called may have run, so it was not run again"
"""A result's error (after the Ray exception's type) when the worker died during its run."""


class _Worker:
    """One Ray actor: an agent built from the factory, running the runs it is sent concurrently."""

    def __init__(self, factory: str | Callable[[], Any], driver_cwd: str) -> None:
        from contextlib import nullcontext

        from ..cli._spec import directory_last
        from ._one import build_agent

        # A "module:function" from the driver's directory imports here too on a one-machine cluster,
        # as the command line does it (agentkit/cli/_spec.py): last on sys.path, only while the
        # agent is built.
        here = directory_last(driver_cwd) if os.path.isdir(driver_cwd) else nullcontext()
        # A factory that fails is reported by `check`, as a UserError in the driver, rather than
        # as an actor that Ray restarts over and over.
        self.problem: str | None = None
        try:
            with here:
                self.agent = build_agent(factory)
        except Exception as e:
            self.problem = f"the agent factory {factory!r} failed in a Ray worker: {type(e).__name__}: {e}"

    def check(self, options: dict[str, Any]) -> str | None:
        """None, or why the workers cannot run: the factory failed, or a run option is refused."""
        if self.problem is not None:
            return self.problem
        try:
            self.agent._options(dict(options))
        except UserError as e:
            return str(e)
        return None

    async def run(self, it: Item, options: dict[str, Any]) -> BatchResult:
        from ._one import run_one

        return await run_one(self.agent, it, options)


@asynccontextmanager
async def ray_backend(
    factory: Any, run_options: Mapping[str, Any], *, workers: int | None, concurrency: int
) -> AsyncIterator[Callable[[Item], Awaitable[BatchResult]]]:
    """Start the workers (and Ray, if nobody has); yields how to run one input on the least busy one."""
    import sniffio

    if sniffio.current_async_library() != "asyncio":
        raise UserError("backend='ray' needs asyncio (Ray's object refs are asyncio awaitables)")
    if isinstance(factory, Agent) or not (isinstance(factory, str) or callable(factory)):
        raise UserError("backend='ray' takes a 'module:function' or a function that builds the Agent in each worker")
    try:
        import ray
    except ImportError:
        raise UserError("backend='ray' needs Ray: pip install 'agentkit[ray]'") from None
    started = not ray.is_initialized()
    if started:
        try:
            ray.init()  # RAY_ADDRESS names a cluster; without it, Ray starts a local one
        except ConnectionError as e:  # RAY_ADDRESS names a cluster (or "auto") that is not there
            raise UserError(f"cannot join the Ray cluster (RAY_ADDRESS): {e}") from None
    actors: list[Any] = []
    try:
        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        count = workers if workers is not None else max(1, int(cpus))
        if not isinstance(count, int) or count < 1:
            raise UserError(f"workers must be a positive int, not {workers!r}")
        per_worker = -(-concurrency // count)
        actor_class = ray.remote(_Worker).options(
            num_cpus=1, max_restarts=-1, max_task_retries=0, max_concurrency=per_worker
        )
        actors = [actor_class.remote(factory, os.getcwd()) for _ in range(count)]
        problem = await actors[0].check.remote(dict(run_options))
        if problem is not None:
            raise UserError(problem)
        busy = [0] * count
        options = dict(run_options)

        async def execute(it: Item) -> BatchResult:
            worker = busy.index(min(busy))
            busy[worker] += 1
            try:
                result: BatchResult = await actors[worker].run.remote(it, options)
            except ray.exceptions.RayActorError as e:  # the worker died (or went away) during the run
                return BatchResult(id=it.id, error=f"{type(e).__name__}: {DIED}")
            except Exception as e:  # the input or its result could not travel, say
                from ._result import describe

                return BatchResult(id=it.id, error=describe(e))
            finally:
                busy[worker] -= 1
            return result

        yield execute
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
