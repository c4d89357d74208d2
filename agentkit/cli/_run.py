"""``agentkit run QUESTION``: one run, streamed to the terminal, or its result as one JSON object."""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any

from ._common import add_agent_options


def add(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="ask one question and stream the run",
        description="Ask one question; stream the reasoning, tool calls and answer.",
    )  # fmt: skip
    parser.add_argument("question", help="what to ask")
    parser.add_argument("--json", action="store_true",
                        help="print only the result, as one JSON object (output, reasoning, messages, usage, "
                             "turns, pending); the stream goes to stderr when stderr is a terminal")  # fmt: skip
    add_agent_options(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    import anyio

    from ..exceptions import AgentError, UserError
    from ._common import build_agent, run_options
    from ._main import CLIError
    from ._pending import shown_arguments
    from ._render import EventPrinter, result_dict
    from ._visible import exact, visible

    if not args.question.strip():
        raise CLIError("the question is empty")
    agent = build_agent(args)
    # With --json, stdout holds the JSON object and nothing else.
    out = (sys.stderr if sys.stderr.isatty() else io.StringIO()) if args.json else sys.stdout
    printer = EventPrinter(out)
    printer.question(args.question)
    try:
        result = anyio.run(lambda: printer.run(agent, args.question, **run_options(args)))
    except UserError:  # the caller's mistake: one line, status 2 (in main)
        raise
    except AgentError as e:  # the run failed (the model, a limit, the output): status 1, the transcript kept
        printer.interrupted("failed")
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"agentkit run: {type(e).__name__}: {visible(message)}", file=sys.stderr)
        if args.json:
            _print_json({"output": None, "error": {"type": type(e).__name__, "message": message},
                         "messages": getattr(e, "messages", None) or []})  # fmt: skip
        return 1
    if args.json:
        _print_json(result_dict(result))
    if result.pending:  # `run` does not ask: the calls did not run, and a script must not take this for an answer
        calls = ", ".join(f"{exact(c.name)}({shown_arguments(c.arguments)})" for c in result.pending)
        n = len(result.pending)
        print(f"agentkit run: stopped before {n} call{'s' if n > 1 else ''} that wait{'' if n > 1 else 's'} for "
              f"approval: {calls} (`agentkit chat` asks)", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _print_json(data: dict[str, Any]) -> None:
    from ._visible import dump_json

    dump_json(data, sys.stdout)
    sys.stdout.flush()
