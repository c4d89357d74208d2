"""The options every subcommand shares, and the one place that turns them into an `Agent`."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from contextlib import AsyncExitStack
from typing import Any

import anyio

from .._agent import Agent
from .._model import Model
from .._toolsets import open_tools
from ..exceptions import ModelError, UserError
from ..tools import Tool
from ._gate import Hooked, combined, hook_of
from ._main import CLIError
from ._spec import SpecError, load_object, load_tools
from ._visible import visible


def add_agent_options(parser: argparse.ArgumentParser) -> None:
    """Add the model, tools and agent options that `build_agent` reads."""
    group = parser.add_argument_group("model and tools (none: the built-in demo model and the weather tools)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--base-url", metavar="URL",
                        help="an OpenAI-compatible server (lmdeploy, vLLM, SGLang, Ollama, llama.cpp), e.g. "
                             "http://127.0.0.1:23333/v1; its dialect and model are found by asking it")  # fmt: skip
    source.add_argument("--model", metavar="ID_OR_PATH", help="a local transformers model id or path")
    source.add_argument("--agent", metavar="MODULE:ATTR",
                        help="your own Agent (its model, tools and options); not with --tools or --system")  # fmt: skip
    group.add_argument("--tools", metavar="MODULE:ATTR", action="append", default=[],
                       help="tools: a list of tools or functions, one tool, or an Agent's tools (repeatable); "
                            "MODULE is also looked for in the current directory, after installed packages")  # fmt: skip
    group.add_argument("--mcp", metavar="COMMAND", action="append", default=[],
                       help="an MCP server to start over stdio, as one command line (e.g. "
                            "'python -m mcp_server_time'); its tools join the agent's (repeatable; "
                            "each run starts it and stops it)")  # fmt: skip
    group.add_argument("--thinking", action=argparse.BooleanOptionalAction, default=None,
                       help="think before answering (default: the model's own default)")  # fmt: skip
    group.add_argument("--system", metavar="TEXT", help="the system prompt")


def build_agent(args: argparse.Namespace) -> Agent[Any]:
    """The agent the options name; a caller's mistake raises `CLIError` (one line, status 2)."""
    if args.agent:
        if args.tools or args.mcp or args.system is not None:
            raise CLIError("--agent brings its own tools and system prompt: leave out --tools, --mcp and --system")
        agent = load_object(args.agent)
        if not isinstance(agent, Agent):
            raise SpecError(f"{args.agent!r} is of type {type(agent).__name__}, not an Agent")
        return agent
    system = args.system
    tools: list[Any] = []
    hooked: list[Hooked] = []
    plain: list[str] = []
    for spec in args.tools:
        found = load_tools(spec)
        tools += found
        hook = hook_of(spec)
        if hook is not None:
            hooked.append(hook)
        else:
            plain += [t.name for t in found if isinstance(t, Tool)]
    demo = not args.base_url and not args.model
    if demo and not args.tools and not args.mcp:
        # Imported here, not as a spec: a command that names no module imports nothing from the current directory.
        from .._demo.weather import SYSTEM, TOOLS

        tools = list(TOOLS)
        if system is None:
            system = SYSTEM
    tools += [_mcp_server(command) for command in args.mcp]
    if demo:
        _warn_other_tools(args.command, tools)
    try:
        return Agent(_model(args), tools, system=system, thinking=args.thinking, approve=combined(hooked, plain))
    except UserError as e:  # two tools with one name
        raise CLIError(str(e)) from None


def _warn_other_tools(command: str, tools: list[Any]) -> None:
    """The demo model was trained on the weather tools only: given others, it answers nonsense
    without a word of its own, so the command line says so before it loads."""
    from .._demo.weather import TOOLS

    known = [t.name for t in TOOLS if isinstance(t, Tool)]
    others = [t.name for t in tools if isinstance(t, Tool) and t.name not in known]
    if any(not isinstance(t, Tool) for t in tools):  # an MCP server's tools, known once it runs
        others.append("those of an MCP server or toolset")
    if others:
        print(f"agentkit {command}: warning: the built-in demo model knows only the weather tools "
              f"({', '.join(known)}): with other tools ({visible(', '.join(others))}) its answers are nonsense; "
              "name a model with --model or --base-url", file=sys.stderr, flush=True)  # fmt: skip


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """Per-run options from the command line: ``--thinking`` overrides an ``--agent``'s own choice."""
    return {} if args.thinking is None else {"thinking": args.thinking}


async def all_tools(agent: Agent[Any]) -> list[Tool[Any, Any]]:
    """The agent's tools with its toolsets' (each toolset connected for the listing, then closed)."""
    async with AsyncExitStack() as stack:
        return list((await open_tools(agent.tools, agent.toolsets, stack)).values())


_PYTHONS = ("python", "python3")
"""`--mcp` programs that mean the running interpreter."""


def _mcp_server(command: str) -> Any:
    try:
        from ..mcp import MCPToolset
    except ImportError as e:
        raise CLIError(f"--mcp: {e}") from None
    try:
        program, *arguments = shlex.split(command) or [""]
    except ValueError as e:  # an unclosed quote
        raise CLIError(f"--mcp {command!r}: {e}") from None
    if program in _PYTHONS:
        # The interpreter agentkit runs on (its venv's, activated or not), not whichever is first on PATH.
        program = sys.executable
    if shutil.which(program) is None:
        raise CLIError(f"--mcp {command!r}: no program named {program!r}")
    return MCPToolset.stdio(program, arguments)


def _no_loading_bar() -> None:
    """transformers' "Loading weights" bar, printed at every start (also under ``--json``), is
    turned off with transformers' own switch. That switch also hides the hub's download bars: on a
    terminal they come back, so that the first download of a ``--model`` shows its progress."""
    try:
        from huggingface_hub.utils.tqdm import are_progress_bars_disabled, enable_progress_bars
        from transformers.utils import logging as transformers_logging
    except ImportError:  # LocalModel says what to install
        return
    downloads = not are_progress_bars_disabled()  # HF_HUB_DISABLE_PROGRESS_BARS=1 keeps them off
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if downloads and sys.stderr.isatty():
        enable_progress_bars()


def _model(args: argparse.Namespace) -> Model:
    if args.base_url:
        from .._redact import public_url
        from .._remote import RemoteModel

        model = RemoteModel(args.base_url)

        async def probe() -> None:
            try:
                await model._resolve()
            finally:
                await model.aclose()

        try:  # ask the server now: one that is down is the caller's to fix, before any question
            anyio.run(probe)
        except ModelError as e:
            raise CLIError(f"cannot use the server at {public_url(args.base_url)}: {e}") from None
        return model
    _no_loading_bar()
    from .._local import LocalModel

    if not args.model:
        return LocalModel.demo()
    # A path (not a hub id such as internlm/Intern-S1-mini) that is not there: said plainly, before transformers.
    if args.model.startswith((".", os.path.sep, "~")) and not os.path.exists(os.path.expanduser(args.model)):
        raise CLIError(f"--model {args.model}: no such directory")
    try:
        return LocalModel(os.path.expanduser(args.model))
    except (OSError, ValueError) as e:  # not found locally nor on the hub, or not a model
        raise CLIError(f"--model {args.model}: cannot load it: {e}") from None
