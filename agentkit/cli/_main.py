"""Argument parsing and the one place that turns a caller's mistake into one line and status 2."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..exceptions import UserError
from ._spec import SpecError
from ._visible import visible, visible_logs

# Each subcommand lives in its own module, which defines ``add(subparsers)``; the module keeps
# its heavy imports inside the handler so that ``agentkit --help`` stays fast.
_COMMANDS: tuple[str, ...] = ("run", "chat", "web", "batch", "mcp")


class CLIError(Exception):
    """A caller's mistake on the command line: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentkit", description="Tool-calling agents on open reasoning models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMANDS:
        importlib.import_module(f"{__package__}._{name}").add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (``python -m agentkit`` exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    visible_logs()
    try:
        status: int = args.func(args)
    except (CLIError, SpecError, UserError) as e:
        print(f"agentkit {args.command}: {visible(' '.join(str(e).split()))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (`agentkit run ... | head`): not our failure to report
        sys.stderr.close()
        return 1
    return status
