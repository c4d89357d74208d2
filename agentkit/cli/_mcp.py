"""``agentkit mcp serve MODULE:ATTR [--http HOST:PORT]``: agentkit tools for any MCP client."""

from __future__ import annotations

import argparse
from typing import Any

from ._gate import hook_of
from ._listen import listen, serve
from ._main import CLIError
from ._spec import load_object, load_tools


def add(sub: Any) -> None:
    parser = sub.add_parser("mcp", help="MCP: serve agentkit tools to MCP clients")
    mcp_sub = parser.add_subparsers(dest="mcp_command", metavar="MCP_COMMAND")
    mcp_sub.required = True
    serve = mcp_sub.add_parser(
        "serve",
        help="serve tools over stdio (default) or Streamable HTTP",
        description="Serve a list of tools, one tool, an Agent's tools, or a server made by agentkit.mcp.server() "
        "(MODULE:ATTR, MODULE also looked for in the current directory, after the installed packages) to MCP "
        "clients, over stdio unless --http is given.",
    )
    serve.add_argument("spec", metavar="MODULE:ATTR",
                       help="a list of tools, a tool, an Agent, or a server made by agentkit.mcp.server()")  # fmt: skip
    serve.add_argument("--http", metavar="HOST:PORT", help="serve Streamable HTTP at http://HOST:PORT/mcp")
    serve.add_argument("--name", default="agentkit", help="the server's name, as clients see it")
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        from ..mcp import _server  # first: without the SDK, its error says how to install it
    except ImportError as e:
        raise CLIError(str(e)) from None
    from mcp.server.lowlevel import Server

    # Listening first, as `web` does: a taken port is said before the tools load.
    host, port = _address(args.http) if args.http is not None else ("", 0)
    sock = listen(host, port) if args.http is not None else None
    try:
        made = load_object(args.spec)
        if isinstance(made, Server):  # a server(...) of the user's own: with resources, prompts, options
            server = made
        else:
            tools = load_tools(args.spec)
            if any(not hasattr(t, "parameters") for t in tools):
                raise CLIError(f"{args.spec!r} holds a toolset; `mcp serve` serves tools only")
            hooked = hook_of(args.spec)  # an Agent's approve hook decides each call, as in the Agent
            server = _server.server(tools, name=args.name, approve=hooked.approve if hooked else None,
                                    approval_timeout=hooked.timeout if hooked else None)  # fmt: skip
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    if sock is None:
        _server.run_stdio(server)
        return 0
    serve(_server.http_app(server, host), sock)
    return 0


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise CLIError(f"--http wants HOST:PORT, not {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)
