"""The weather bot with its tools from MCP servers (agentkit.mcp).

    python examples/mcp_agent.py                                       # offline, built-in demo model
    python examples/mcp_agent.py --base-url http://127.0.0.1:23333/v1 "What time is it in Tokyo, and how warm is it there?"

The tools come from MCP servers, each a child process spoken to over stdio:
- the weather tools, served by agentkit itself: ``agentkit mcp serve agentkit._demo.weather:TOOLS``;
- with a real model (``--base-url`` or ``--model``), also the reference server ``mcp-server-time``
  (``pip install mcp-server-time``): current time and time-zone conversion.

The demo model is offered the weather tools only: it was trained on those two, and a prompt that
lists other tools is outside what it learned. A run that fails ends with one line on stderr and
exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

import anyio

from agentkit import Agent, AgentError, Model
from agentkit._demo.weather import QUESTION, SYSTEM
from agentkit.cli import EventPrinter
from agentkit.mcp import MCPToolset


def make_model(args: argparse.Namespace) -> Model:
    if args.base_url:
        from agentkit import RemoteModel

        return RemoteModel(args.base_url)
    from agentkit import LocalModel

    return LocalModel(args.model) if args.model else LocalModel.demo()


def toolsets(real_model: bool) -> list[MCPToolset]:
    weather = MCPToolset.stdio(sys.executable, ["-m", "agentkit", "mcp", "serve", "agentkit._demo.weather:TOOLS"])
    if not real_model:
        return [weather]
    clock = MCPToolset.stdio(sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"])
    return [weather, clock]


async def chat(agent: Agent, question: str, thinking: bool | None) -> str:
    async with contextlib.AsyncExitStack() as stack:
        # Entered here, each server starts once for the session (not once per run) and stops
        # when the block ends.
        names: list[str] = []
        for toolset in agent.toolsets:
            await stack.enter_async_context(toolset)
            names += [t.name for t in await toolset.list_tools()]
        print(f"tools from MCP servers: {', '.join(names)}")
        printer = EventPrinter()
        printer.question(question)
        result = await printer.run(agent, question, thinking=thinking)
    return result.output


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description="The weather bot with its tools from MCP servers.")
    parser.add_argument("question", nargs="?", default=QUESTION, help="what to ask (the guide's question when left out)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--base-url", help="an OpenAI-compatible server, e.g. http://127.0.0.1:23333/v1")
    source.add_argument("--model", help="a local transformers model id or path, e.g. internlm/Intern-S1-mini")
    parser.add_argument("--thinking", action=argparse.BooleanOptionalAction, default=None,
                        help="think before answering (default: the model's own default)")  # fmt: skip
    args = parser.parse_args(argv)
    if not args.question.strip():
        parser.error("the question is empty")
    try:
        model = make_model(args)
        agent = Agent(model, toolsets(bool(args.base_url or args.model)), system=SYSTEM, max_turns=6)
        return anyio.run(chat, agent, args.question, args.thinking)
    except AgentError as e:
        print(flush=True)
        print(f"mcp_agent: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
