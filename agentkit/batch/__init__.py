"""Many runs: one agent over thousands of inputs, with progress, crash-safe JSONL results, and Ray.

    results = await run_many(agent, ["q1", "q2"], concurrency=64, output="runs.jsonl", resume=True)
"""

from ._journal import OutputFileError
from ._result import BatchResult
from ._run import run_many

__all__ = ["BatchResult", "OutputFileError", "run_many"]
