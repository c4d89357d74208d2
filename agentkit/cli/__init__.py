"""The ``agentkit`` command: ``agentkit run``, ``chat``, ``web``, ``batch``, ``mcp serve``."""

from ._main import main
from ._render import EventPrinter, result_dict
from ._spec import SpecError, load_object, load_tools

__all__ = ["EventPrinter", "SpecError", "load_object", "load_tools", "main", "result_dict"]
