"""``agentkit chat``: a conversation in the terminal, optionally kept in a SQLite session file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..exceptions import AgentError
from ._common import add_agent_options
from ._visible import visible

HELP = """\
Type a question and press Enter. A line that ends in \\ continues on the next line.
Commands: /thinking on|off, /tools, /clear (forget the conversation), /help, /exit.
Ctrl-C stops the current answer; Ctrl-D (end of input) or /exit ends the chat."""


def add(subparsers: Any) -> None:
    parser = subparsers.add_parser("chat", help="chat in the terminal",
                                   description="Chat in the terminal; the conversation is remembered.\n\n" + HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--session", metavar="FILE",
                        help="keep the conversation in this SQLite file: loaded at start, each exchange stored")
    parser.add_argument("--session-id", metavar="ID", default="chat",
                        help="which conversation in the file (default: chat)")  # fmt: skip
    add_agent_options(parser)
    parser.set_defaults(func=handle)


def read_question(prompt: str, more: str) -> str | None:
    """One question: lines ending in a backslash continue it; None at end of input."""
    lines: list[str] = []
    while True:
        try:
            line = input(more if lines else prompt)
        except EOFError:
            return "\n".join(lines) if lines else None
        if line.endswith("\\"):
            lines.append(line[:-1])
            continue
        lines.append(line)
        return "\n".join(lines)


class Chat:
    """The conversation: what the agent is sent, the thinking switch, and the slash commands."""

    def __init__(self, args: argparse.Namespace) -> None:
        from ..sessions import SQLiteSession
        from ._common import build_agent
        from ._render import EventPrinter

        self.agent = build_agent(args)
        self.thinking: bool | None = args.thinking
        self.session = SQLiteSession(args.session, args.session_id) if args.session else None
        self.history: list[dict[str, Any]] = []  # without --session: the conversation so far
        self.printer = EventPrinter()

    def command(self, line: str) -> bool:
        """Run a slash command; False for /exit."""
        name, _, rest = line.partition(" ")
        rest = rest.strip().lower()
        if name in ("/exit", "/quit"):
            return False
        if name == "/thinking" and rest in ("on", "off"):
            self.thinking = rest == "on"
            print(f"thinking is {rest}")
        elif name == "/thinking" and not rest:
            print("thinking is " + {True: "on", False: "off", None: "the model's default"}[self.thinking])
        elif name == "/tools":
            import anyio

            from ._common import all_tools

            try:
                tools = anyio.run(all_tools, self.agent)  # an MCP server's too: connects to list them
            except AgentError as e:
                print(f"  (cannot list the tools: {visible(str(e))})")
                return True
            for t in tools:
                summary = (t.description or "").partition("\n")[0]
                print(f"  {visible(t.name)}: {visible(summary)}")  # an MCP server's words
            if not tools:
                print("  (no tools)")
        elif name == "/clear":
            self.history = []
            if self.session is not None:
                import anyio

                anyio.run(self.session.clear)
            print("the conversation is forgotten")
        elif name == "/help":
            print(HELP)
        else:
            print(f"unknown command {line!r}; /help lists them")
        return True

    def ask(self, question: str) -> None:
        """Answer one question, streamed; Ctrl-C stops it and the question is forgotten.

        Calls still waiting for approval are denied first: the person asked something else.
        """
        import anyio

        from ._pending import new_question

        if self.session is not None:
            added = new_question(anyio.run(self.session.get_messages), question)
            self.go(added)
        else:
            self.go([*self.history, *new_question(self.history, question)])

    def go(self, input: list[dict[str, Any]], approvals: dict[str, Any] | None = None) -> None:
        """One run (a question, or a resume with `approvals`), streamed; then the person decides on
        the calls it left waiting, and the run resumes, until none waits or nobody answers."""
        import anyio

        from ..exceptions import AgentError, UserError

        options: dict[str, Any] = {} if self.thinking is None else {"thinking": self.thinking}
        if self.session is not None:
            options["session"] = self.session
        if approvals is not None:
            options["approvals"] = approvals
        try:
            result = anyio.run(lambda: self.printer.run(self.agent, input, **options))
        except KeyboardInterrupt:
            self.printer.interrupted("stopped: this question is not kept")
            return
        except UserError:
            raise
        except AgentError as e:  # the run failed; the chat goes on, the question is not kept
            self.printer.interrupted(f"failed: {type(e).__name__}: {' '.join(str(e).split())}")
            kept = getattr(e, "messages", None) or []
            if approvals is not None and self.session is None and len(kept) > len(self.history):
                self.history = kept  # a resume's calls that ran are kept: asked again, they would run again
            return
        if self.session is None:
            self.history = result.messages  # its system message leads the next run too
        if result.pending:
            decisions = self.decide(result.pending)
            if decisions is not None:
                self.go([] if self.session is not None else self.history, decisions)

    def decide(self, calls: list[Any]) -> dict[str, Any] | None:
        """The person's decision on each call (y / n / a reason); None when they answer none
        (Ctrl-C, end of input): the calls wait, and a new question denies them."""
        from ._pending import PROMPT, decision

        decisions: dict[str, Any] = {}
        for call in calls:
            verdict = None
            while verdict is None:
                try:
                    verdict = decision(input(f"approve {visible(call.name)}({visible(call.arguments)})? {PROMPT}"))
                except EOFError:
                    return None
                except KeyboardInterrupt:
                    self.printer.interrupted("not decided: the calls wait; a new question denies them")
                    return None
            decisions[call.id] = verdict
        return decisions

    def resume_waiting(self) -> None:
        """A session that ends with calls waiting for approval: ask about them before anything else."""
        import anyio

        from .._approvals import needing_approval, unanswered
        from ._common import all_tools

        if self.session is None:
            return
        waiting = unanswered(anyio.run(self.session.get_messages))
        if not waiting:
            return
        try:
            tools = {t.name: t for t in anyio.run(all_tools, self.agent)}
        except AgentError as e:  # an MCP server that is down: the calls wait, a new question denies them
            self.printer.interrupted(f"cannot ask about the waiting calls: {' '.join(str(e).split())}")
            return
        calls = needing_approval(waiting, tools)
        decisions = self.decide(calls) if calls else None
        if decisions is not None:
            self.go([], decisions)


def handle(args: argparse.Namespace) -> int:
    chat = Chat(args)
    prompt, more = ("you> ", "...> ") if sys.stdin.isatty() else ("", "")
    if sys.stdin.isatty():
        print(HELP)
    chat.resume_waiting()
    while True:
        try:
            question = read_question(prompt, more)
        except KeyboardInterrupt:  # at the prompt: a fresh line, not the end
            print()
            continue
        if question is None:
            if sys.stdin.isatty():
                print()
            return 0
        if not question.strip():
            continue
        if question.startswith("/"):
            if not chat.command(question.strip()):
                return 0
            continue
        chat.ask(question)
