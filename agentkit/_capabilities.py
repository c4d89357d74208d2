"""The capabilities a run gets, in the order the loop calls them."""

from __future__ import annotations

from ._approving import Approvals
from ._budget import Budget
from ._capability import Capability, RunState, global_capabilities
from ._fitting import Fitting
from ._limits import UsageLimits
from ._store import Store
from ._typed import TypedOutput
from .exceptions import UserError

__all__ = ["capabilities"]


def capabilities(run: RunState) -> list[Capability]:
    """agentkit's own first (session storage, approvals, typed output, history fitting), then the
    run's (`capabilities=`), then usage limits (after the run's: a call they answer uses none of
    the budget), then the ones every run gets (tracing, last: it records what was sent)."""
    o = run.options
    bad = [c for c in o.capabilities if not isinstance(c, Capability)]
    if bad:
        raise UserError(f"capabilities must be agentkit.Capability objects, not {bad[0]!r}")
    made = [
        Store(o.session) if o.session is not None else None,
        Approvals(),
        TypedOutput() if o.mode is not None else None,
        Fitting(o.history) if o.history is not None else None,
        *(c.for_run(run) for c in o.capabilities),
        Budget(o.usage_limits) if o.usage_limits != UsageLimits() else None,
        *(factory(run) for factory in global_capabilities()),
    ]
    return [c for c in made if c is not None]
