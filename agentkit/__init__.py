"""agentkit: tool-calling agents on open reasoning models (Intern-S1, Qwen3)."""

from .exceptions import (
    AgentError,
    MaxTurnsExceeded,
    ModelError,
    RunError,
    ToolArgumentsError,
    ToolDefinitionError,
    ToolError,
    UnknownToolError,
    UserError,
)
from .tools import Tool, tool

__version__ = "0.1.0"

__all__ = [
    "AgentError",
    "MaxTurnsExceeded",
    "ModelError",
    "RunError",
    "Tool",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "ToolError",
    "UnknownToolError",
    "UserError",
    "tool",
]
