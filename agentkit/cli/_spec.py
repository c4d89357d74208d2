"""``MODULE:ATTR`` specs: how the command line names tools, agents and agent factories."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..tools import Tool, tool


class SpecError(Exception):
    """A ``MODULE:ATTR`` spec that cannot be loaded; the message names the spec and why."""


def load_object(spec: str) -> Any:
    """Import ``MODULE`` (also found in the current directory, after the installed packages) and return its ``ATTR``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SpecError(f"{spec!r} is not MODULE:ATTR")
    cwd = os.getcwd()
    try:
        with directory_last(cwd):
            module = importlib.import_module(module_name)
    except ImportError as e:
        raise SpecError(f"cannot import {module_name!r} (from {spec!r}): {e}{_shadowed(module_name, cwd)}") from None
    except Exception as e:  # the module itself failed while importing
        raise SpecError(f"importing {module_name!r} (from {spec!r}) failed: {type(e).__name__}: {e}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            hint = _shadowed(module_name, cwd)
            raise SpecError(f"{module_name!r} has no attribute {attr!r} (from {spec!r}){hint}") from None
    return obj


@contextmanager
def directory_last(directory: str) -> Iterator[None]:
    """`directory` LAST on ``sys.path`` while the spec's module imports, then taken off again.

    Only a MODULE:ATTR spec does this: a command without one imports nothing from where the user
    stands. Last, so that a file there never stands in for the standard library or an installed
    package (a stray ``json.py`` or ``transformers.py`` beside the user's tools is not run, also
    when the tools module imports them). Taken off afterwards, so that a module a library probes
    for later (``pynvml``, ``cuda``: not installed, imported if found) is never a stray file from
    there. A package's own modules still import later: they are found through the package, not
    ``sys.path``. A directory already on ``sys.path`` (``""``: ``python -c``/``-m`` put the
    current one first) is left as it is.
    """
    added = directory not in sys.path and "" not in sys.path
    if added:
        sys.path.append(directory)
    try:
        yield
    finally:
        if added and directory in sys.path:
            sys.path.remove(directory)


def _shadowed(module_name: str, cwd: str) -> str:
    """Why a spec failed when a module in the current directory lost to an installed one of the
    same name (installed packages come first); "" otherwise."""
    top = module_name.partition(".")[0]
    found = getattr(sys.modules.get(top), "__file__", None) or ""
    local = [p for p in (os.path.join(cwd, f"{top}.py"), os.path.join(cwd, top)) if os.path.exists(p)]
    if local and found and not os.path.abspath(found).startswith(os.path.join(cwd, "")):
        return f"; {top!r} is the installed {found}, not {local[0]} (installed packages come first): rename your module"
    return ""


def load_tools(spec: str) -> list[Any]:
    """The tools a spec names: a list of tools (or functions, or toolsets), one tool, or an Agent's tools."""
    from .._agent import Agent

    obj = load_object(spec)
    if isinstance(obj, Agent):
        return [*obj.tools.values(), *getattr(obj, "toolsets", ())]
    if isinstance(obj, Tool):
        return [obj]
    if isinstance(obj, (list, tuple)):
        items = list(obj)
    elif callable(obj):
        items = [obj]
    else:
        raise SpecError(f"{spec!r} is of type {type(obj).__name__}, not a tool, a list of tools or an Agent")
    out: list[Any] = []
    for item in items:
        if isinstance(item, Tool) or hasattr(item, "list_tools"):
            out.append(item)
        elif callable(item):
            try:
                out.append(tool(item))
            except Exception as e:
                raise SpecError(f"{spec!r}: {getattr(item, '__name__', item)!r} is not a tool: {e}") from None
        else:
            raise SpecError(f"{spec!r} holds a {type(item).__name__}, which is not a tool")
    return out
