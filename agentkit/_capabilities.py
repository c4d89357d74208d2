"""The capabilities a run gets, in the order the loop calls them."""

from __future__ import annotations

from ._approving import Approvals
from ._budget import Budget
from ._capability import Capability, Hooks, RunState, global_capabilities
from ._fitting import Fitting
from ._handoffs import Handoffs
from ._limits import UsageLimits
from ._recording import Recording
from ._store import Store
from ._typed import TypedOutput
from .exceptions import UserError

__all__ = ["hooks_for"]


def hooks_for(run: RunState, keep: Hooks | None = None) -> Hooks:
    """agentkit's own first (session storage, approvals), then the agent's (typed output,
    history fitting, its `capabilities=`), then handoffs, then the run's own (`capabilities=` given to
    the run), then usage limits (after the run's: a call they answer uses none of the budget),
    then recording (``record=True``), then the ones every run gets (tracing, last: it records what was sent).

    With `keep` (the hooks of the run so far, at a handoff) only the agent's part is made anew:
    the rest belongs to the run and keeps its state.
    """
    o = run.options
    extra = tuple(o.capabilities[len(run.agent.capabilities) :]) if keep is None else ()
    bad = [c for c in o.capabilities if not isinstance(c, Capability)]
    if bad:
        raise UserError(f"capabilities must be agentkit.Capability objects, not {bad[0]!r}")
    made = [
        TypedOutput() if o.mode is not None else None,
        Fitting(o.history) if o.history is not None else None,
        *(c.for_run(run) for c in run.agent.capabilities),
    ]
    agents = [c for c in made if c is not None]
    if keep is not None:
        start = next((i for i, c in enumerate(keep.all) if c in keep.agents), None)
        rest = [c for c in keep.all if c not in keep.agents]
        at = start if start is not None else _after_own(rest)
        return Hooks([*rest[:at], *agents, *rest[at:]], agents)
    head = [Store(o.session) if o.session is not None else None, Approvals()]
    tail = [
        # After the agent's: a handoff as the run starts (a resumed one) comes after their `run_started`.
        Handoffs(hooks_for) if run.agent.handoffs else None,
        *(c.for_run(run) for c in extra),
        Budget(o.usage_limits) if o.usage_limits != UsageLimits() else None,
        # After every capability that may change a request: it records what is sent.
        Recording() if o.record else None,
        *(factory(run) for factory in global_capabilities()),
    ]
    return Hooks([c for c in (*head, *agents, *tail) if c is not None], agents)


def _after_own(capabilities: list[Capability]) -> int:
    """Where an agent's capabilities go among the run's when it had none: after agentkit's own."""
    own = (Store, Approvals)
    return sum(1 for c in capabilities if isinstance(c, own))
