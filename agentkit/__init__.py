"""agentkit: tool-calling agents on open reasoning models (Intern-S1, Qwen3)."""

from typing import TYPE_CHECKING

from ._agent import Agent
from ._capability import CallAnswer, Capability, Final, ModelRequest, ModelResponse, RunState, TurnEnd
from ._context import RunContext
from ._events import (
    MalformedCall,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallArgsDelta,
    ToolCallMalformed,
    ToolCallOpened,
    ToolCallReady,
)
from ._limits import UsageLimits
from ._model import (
    INTERN_S1,
    INTERN_S1_MINI,
    INTERN_S1_PRO,
    INTERN_S2_PREVIEW,
    Completion,
    CompletionDone,
    Model,
    ModelEvent,
    Sampling,
    Usage,
)
from ._options import RunOptions
from ._result import (
    AgentEvent,
    Handoff,
    RunFinished,
    RunResult,
    SubAgentEvent,
    ToolCallFinished,
    ToolCallStarted,
    ToolProgress,
    TurnFinished,
)
from ._trajectory import Trajectory
from .exceptions import (
    AgentError,
    ApprovalError,
    AuthorizationError,
    CapabilityError,
    MaxTurnsExceeded,
    ModelError,
    OutputValidationError,
    ResumeConflictError,
    RunError,
    SessionError,
    ToolArgumentsError,
    ToolDefinitionError,
    ToolError,
    ToolsetError,
    UnknownToolError,
    UsageLimitExceeded,
    UserError,
)
from .tools import Tool, tool

if TYPE_CHECKING:
    from ._local import LocalModel
    from ._remote import RemoteModel

__version__ = "0.1.0"

__all__ = [
    "INTERN_S1",
    "INTERN_S1_MINI",
    "INTERN_S1_PRO",
    "INTERN_S2_PREVIEW",
    "Agent",
    "AgentError",
    "AgentEvent",
    "ApprovalError",
    "AuthorizationError",
    "CallAnswer",
    "Capability",
    "CapabilityError",
    "Completion",
    "CompletionDone",
    "Final",
    "Handoff",
    "LocalModel",
    "MalformedCall",
    "MaxTurnsExceeded",
    "Model",
    "ModelError",
    "ModelEvent",
    "ModelRequest",
    "ModelResponse",
    "OutputValidationError",
    "ReasoningDelta",
    "RemoteModel",
    "ResumeConflictError",
    "RunContext",
    "RunError",
    "RunFinished",
    "RunOptions",
    "RunResult",
    "RunState",
    "Sampling",
    "SessionError",
    "SubAgentEvent",
    "TextDelta",
    "Tool",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallArgsDelta",
    "ToolCallFinished",
    "ToolCallMalformed",
    "ToolCallOpened",
    "ToolCallReady",
    "ToolCallStarted",
    "ToolProgress",
    "ToolDefinitionError",
    "ToolError",
    "ToolsetError",
    "Trajectory",
    "TurnEnd",
    "TurnFinished",
    "UnknownToolError",
    "Usage",
    "UsageLimitExceeded",
    "UsageLimits",
    "UserError",
    "tool",
]


def __getattr__(name: str) -> object:
    # The backends load on first use: `import agentkit` must not pay for torch or httpx.
    if name == "LocalModel":
        from ._local import LocalModel

        return LocalModel
    if name == "RemoteModel":
        from ._remote import RemoteModel

        return RemoteModel
    raise AttributeError(f"module 'agentkit' has no attribute {name!r}")
