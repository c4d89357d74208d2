"""The ``agentkit`` command: ``agentkit run``, ``chat``, ``web``, ``batch``, ``mcp serve``."""

from ._main import main
from ._spec import SpecError, load_object, load_tools

__all__ = ["SpecError", "load_object", "load_tools", "main"]
