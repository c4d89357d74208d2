"""The trainers' own row classes, taken from their released wheels: the shapes agentkit.trajectories writes.

verl and SkyRL do not import on a CPU machine without their heavy dependencies (Ray, hydra,
vLLM...), so the class definitions are read from the wheel's source (pinned versions, downloaded
once into agentkit's cache by .ci/run, or here with pip) and executed alone: the test builds the trainer's
own pydantic model / dataclass from a row.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional, Union  # noqa: UP035 - the trainers' sources use them

WHEELS = Path(os.environ.get("AGENTKIT_CACHE") or Path.home() / ".cache" / "agentkit") / "wheels"
"""Where .ci/run keeps downloaded wheels (the same folder as tools and tests use)."""
VERL = ("verl==0.9.1", "verl-0.9.1-py3-none-any.whl", "verl/experimental/agent_loop/agent_loop.py")
SKYRL = ("skyrl-train==0.3.1", "skyrl_train-0.3.1-py3-none-any.whl",
         "skyrl_train/generators/skyrl_gym_generator.py")  # fmt: skip


def source(pin: tuple[str, str, str]) -> str | None:
    """The file's text from the pinned wheel (downloaded with pip if missing), or None when pip cannot get it."""
    requirement, wheel, member = pin
    path = WHEELS / wheel
    if not path.exists():
        WHEELS.mkdir(parents=True, exist_ok=True)
        # skyrl-train says Python 3.12; its wheel is pure Python and only read here, never installed.
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "-d", str(WHEELS), requirement],
                       capture_output=True, timeout=300)  # fmt: skip
    if not path.exists():
        return None
    with zipfile.ZipFile(path) as z:
        return z.read(member).decode()


def classes(text: str, names: list[str]) -> dict[str, Any]:
    """The named top-level classes of `text`, defined (in order) with only typing, pydantic and dataclasses."""
    from pydantic import BaseModel, ConfigDict

    tree = ast.parse(text)
    found = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    namespace: dict[str, Any] = {"BaseModel": BaseModel, "ConfigDict": ConfigDict, "dataclass": dataclass,
                                 "field": field, "Enum": Enum, "Any": Any, "Optional": Optional, "List": List,
                                 "Dict": Dict, "Union": Union}  # fmt: skip
    for name in names:
        node = found[name]
        node.body = [n for n in node.body if not isinstance(n, ast.FunctionDef)]  # fields only
        exec(compile(ast.Module(body=[node], type_ignores=[]), f"<{name}>", "exec"), namespace)
        if isinstance(namespace[name], type) and issubclass(namespace[name], BaseModel):
            namespace[name].model_rebuild(_types_namespace=namespace)  # its annotations name our namespace
    return {name: namespace[name] for name in names}
