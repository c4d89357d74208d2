"""Typed results as a type checker sees them: mypy checks tests/typing/ (here, and so in CI)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_mypy_knows_the_output_type():
    # pyproject's mypy settings (strict) and cache: warm after `.ci/run`'s own mypy run.
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "tests/typing/check_agent_types.py"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("Success: no issues found in 1 source file")
