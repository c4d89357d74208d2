"""``agentkit batch INPUTS.jsonl --agent MODULE:FUNCTION --output OUT.jsonl``: run an agent over a file of inputs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._main import CLIError


def add(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="run an agent over a JSONL file of inputs",
        description="Run an agent once per line of INPUTS.jsonl (a JSON string, a message list, or "
        '{"id", "input", "deps"}); a result line per finished run goes to --output, flushed at once.',
    )
    parser.add_argument("inputs", help="a JSONL file, one input per line")
    parser.add_argument("--agent", required=True, metavar="MODULE:FUNCTION",
                        help="a function called with no arguments that returns the Agent, or an Agent")  # fmt: skip
    parser.add_argument("--output", required=True, metavar="OUT.jsonl", help="where the result lines go")
    parser.add_argument("--concurrency", type=int, default=32, metavar="N", help="runs at once (default 32)")
    parser.add_argument("--resume", action="store_true", help="skip the ids already in --output")
    parser.add_argument("--ray", action="store_true", help="spread the runs over a Ray cluster (RAY_ADDRESS)")
    parser.set_defaults(func=handler)


def read_inputs(path: Path) -> Iterator[Any]:
    """The file's inputs, a line at a time (blank lines skipped); a line that is not JSON is a CLIError."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as e:
                    raise CLIError(f"{path}, line {number}: not JSON ({e})") from None


def handler(args: argparse.Namespace) -> int:
    import anyio

    from ..batch import OutputFileError, run_many
    from ..batch._one import build_agent

    path = Path(args.inputs)
    if not path.is_file():
        raise CLIError(f"no such file: {path}")
    if args.concurrency < 1:
        raise CLIError(f"--concurrency must be at least 1, not {args.concurrency}")
    output = Path(args.output)
    if not output.parent.is_dir():
        raise CLIError(f"--output {output}: no such folder: {output.parent}")
    # run_many's own refusal names its keyword (resume=True): here the caller needs the option.
    if not args.resume and output.is_file() and output.stat().st_size:
        raise CLIError(f"{output} already holds results: pass --resume to go on with it, or remove it")
    if args.ray:  # Ray's info lines ("Using address ... set in RAY_ADDRESS") would break the one-line error
        os.environ.setdefault("RAY_LOGGER_LEVEL", "warning")
    # Local runs build the agent here, so that a bad --agent fails before anything is read.
    agent: Any = args.agent if args.ray else build_agent(args.agent)

    async def main() -> list[Any]:
        return await run_many(agent, read_inputs(path), concurrency=args.concurrency, output=args.output,
                              resume=args.resume, backend="ray" if args.ray else "local")  # fmt: skip

    try:
        results = anyio.run(main)
        problem = None
    except OutputFileError as e:  # every run finished; some of their lines are not in the file
        results, problem = e.results, e
    except OSError as e:
        if e.filename != args.output:
            raise
        raise CLIError(f"--output {output}: {e.strerror or e}") from None
    failed = sum(r.error is not None for r in results)
    waiting = sum(bool(r.pending) for r in results)
    skipped = sum(r.skipped for r in results)
    also = f", {waiting} waiting for approval" if waiting else ""
    runs = f"{len(results)} runs" + (f" ({skipped} skipped: their results were in the file)" if skipped else "")
    print(f"{runs}, {failed} failed{also}: {args.output}")
    if problem is not None:
        print(f"agentkit batch: {' '.join(str(problem).split())}", file=sys.stderr)
    return 1 if failed or waiting or problem is not None else 0
