"""A run's options: the Agent's keyword options with the run's overrides, checked once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from typing_extensions import TypedDict

from ._approvals import Decision
from ._limits import UsageLimits
from ._model import Message, ToolChoice
from ._output import FINAL_RESULT, OutputMode, OutputSpec, with_instruction
from ._tool_runner import Approval
from .exceptions import UserError
from .sessions import History, Session
from .tools import Tool

__all__ = [
    "AGENT_IDENTITY",
    "AGENT_OPTIONS",
    "AgentKeywords",
    "RUN_OPTIONS",
    "PerTurn",
    "RunOptions",
    "output_spec",
    "per_turn",
    "resolve",
    "start",
]

T = TypeVar("T")
PerTurn: TypeAlias = "T | Callable[[int], T]"


def per_turn(value: Any, turn: int) -> Any:
    """A per-turn option's value at `turn` (one value, or a function of the turn)."""
    return value(turn) if callable(value) else value


AGENT_OPTIONS = (
    "system",
    "thinking",
    "tool_choice",
    "max_turns",
    "tool_timeout",
    "approve",
    "approval_timeout",
    "max_tool_output",
    "output_type",
    "output_mode",
    "output_retries",
    "usage_limits",
    "deps_type",
    "history",
    "capabilities",
    "parallel_tools",
)
"""The `Agent` keyword options; each can also be given per run."""

AGENT_IDENTITY = ("name", "description", "handoffs")
"""The `Agent` keywords that say who it is and whom it hands to: not run options."""


class AgentKeywords(TypedDict, total=False):
    """`Agent`'s keyword options but `output_type` (for its typed overloads; see `Agent.__init__`)."""

    system: str | None
    thinking: PerTurn[bool | None]
    tool_choice: PerTurn[ToolChoice | None]
    max_turns: int
    tool_timeout: float | None
    approve: Approval | None
    approval_timeout: float | None
    max_tool_output: int | None
    output_mode: OutputMode
    output_retries: int
    usage_limits: UsageLimits | None
    deps_type: Any
    history: History | None
    capabilities: Sequence[Any]
    parallel_tools: bool
    name: str
    description: str | None
    handoffs: Sequence[Any]


RUN_OPTIONS = ("deps", "approvals", "session", "record")
"""Keywords that only a run takes."""


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """One run's settings: the Agent's options with the run's overrides applied."""

    system: str | None
    thinking: PerTurn[bool | None]
    tool_choice: PerTurn[ToolChoice | None]
    max_turns: int
    tool_timeout: float | None
    approve: Approval | None
    approval_timeout: float | None
    max_tool_output: int | None
    output: OutputSpec
    mode: str | None
    """"tool" or "json" for a typed result, None for text."""
    output_retries: int
    usage_limits: UsageLimits
    deps: Any
    approvals: dict[str, Decision] | None
    history: History | None
    """What of the conversation the model is sent (None: all of it)."""
    session: Session | None
    """Where the conversation is loaded from and the run's new messages are stored."""
    capabilities: tuple[Any, ...]
    """The run's own capabilities (`agentkit.Capability`): the agent's, then those given to the run."""
    parallel_tools: bool
    """False: a message's calls run one at a time, in the message's order."""
    model_options: dict[str, Any]
    record: bool = False
    """Whether the run records its exact tokens (`RunResult.trajectory`; see `_recording.py`)."""
    overridden: frozenset[str] = frozenset()
    """The agent options the run itself gave (they hold across handoffs)."""


def output_spec(output_type: Any, tools: Mapping[str, Tool[Any, Any]]) -> OutputSpec:
    """The output spec of `output_type`; refuses a tool that takes the typed result's tool name."""
    spec = OutputSpec(output_type)
    if not spec.text and FINAL_RESULT in tools:
        raise UserError(f"a tool is named {FINAL_RESULT!r}, the name of the typed result's tool: rename it")
    return spec


def resolve(agent_object: Any, model: Any, overrides: dict[str, Any]) -> RunOptions:
    """One run's options: the agent's, with `overrides` applied and checked (`UserError`)."""
    agent = {name: overrides.get(name, getattr(agent_object, name)) for name in AGENT_OPTIONS}
    run = {name: overrides.get(name) for name in RUN_OPTIONS}
    model_options = {k: v for k, v in overrides.items() if k not in AGENT_OPTIONS and k not in RUN_OPTIONS}
    # A backend says which options it takes; a user's own model may not, and gets them all.
    accepted = getattr(model, "options", None)
    unknown = model_options.keys() & {"tools", "messages", *AGENT_IDENTITY}
    if accepted is not None:
        unknown |= model_options.keys() - set(accepted)
    if unknown:
        takes = ", ".join(sorted(accepted)) if accepted is not None else "any other keyword"
        raise UserError(
            f"unknown option {', '.join(map(repr, sorted(unknown)))}: an Agent takes "
            f"{', '.join((*AGENT_OPTIONS, *RUN_OPTIONS))}; {type(model).__name__} takes {takes}"
        )
    if agent["output_mode"] not in ("tool", "json", "auto"):
        raise UserError(f"output_mode must be 'tool', 'json' or 'auto', not {agent['output_mode']!r}")
    retries = agent["output_retries"]
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise UserError(f"output_retries must be a non-negative int, not {retries!r}")
    deps_type = agent.pop("deps_type")
    if isinstance(deps_type, type) and run["deps"] is not None and not isinstance(run["deps"], deps_type):
        raise UserError(f"deps must be a {deps_type.__name__}, not {type(run['deps']).__name__}")
    output = (agent_object._output if agent["output_type"] is agent_object.output_type
              else output_spec(agent["output_type"], agent_object.tools))  # fmt: skip
    del agent["output_type"]
    output_mode = agent.pop("output_mode")
    limits = agent.pop("usage_limits") or UsageLimits()
    if agent["history"] is not None and not isinstance(agent["history"], History):
        raise UserError(f"history must be a History (agentkit.sessions), not {type(agent['history']).__name__}")
    # A run's capabilities come after the agent's, never instead of them: a run cannot drop a guardrail.
    for capabilities in (agent_object.capabilities, overrides.get("capabilities", ())):
        if isinstance(capabilities, (str, bytes)) or not isinstance(capabilities, Sequence):
            raise UserError(f"capabilities must be a list of agentkit.Capability, not {capabilities!r}")
    agent["capabilities"] = (*agent_object.capabilities, *overrides.get("capabilities", ()))
    if not isinstance(agent["parallel_tools"], bool):
        raise UserError(f"parallel_tools must be True or False, not {agent['parallel_tools']!r}")
    record = False if run["record"] is None else run["record"]
    if not isinstance(record, bool):
        raise UserError(f"record must be True or False, not {record!r}")
    if record and agent["history"] is not None:
        raise UserError("record=True cannot be combined with history=: a recorded run sends the model every token")
    if run["session"] is not None and not isinstance(run["session"], Session):
        raise UserError(f"session must be a Session (agentkit.sessions), not {type(run['session']).__name__}")
    return RunOptions(
        **agent,
        output=output,
        mode=None if output.text else _mode(output_mode, model, bool(agent_object.tools or agent_object.toolsets)),
        usage_limits=limits,
        deps=run["deps"],
        approvals=run["approvals"],
        session=run["session"],
        model_options=model_options,
        record=record,
        overridden=frozenset(overrides.keys() & set(AGENT_OPTIONS)),
    )


def _mode(mode: str, model: Any, has_tools: bool) -> str:
    """ "auto": JSON content where the backend can constrain it and no tool is offered
    (a constrained answer cannot call tools); a `final_result` call everywhere else."""
    if mode != "auto":
        return mode
    accepted = getattr(model, "options", None)
    # A backend may take the option yet lack what enforces it (LocalModel without xgrammar).
    takes_format = accepted is not None and "response_format" in accepted and getattr(model, "constrains_json", True)
    return "json" if takes_format and not has_tools else "tool"


def start(input: str | Sequence[Message], options: RunOptions) -> list[Message]:
    """The run's first messages: the input, led by the system message."""
    given = [{"role": "user", "content": input}] if isinstance(input, str) else [dict(m) for m in input]
    # A conversation that brings its own system message keeps it; otherwise `system` leads.
    if options.system and not (given and given[0].get("role") == "system"):
        given.insert(0, {"role": "system", "content": options.system})
    if options.mode == "json":
        with_instruction(given, options.output.instruction)
    return given
