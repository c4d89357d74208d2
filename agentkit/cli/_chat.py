"""``agentkit chat``: a conversation in the terminal, optionally kept in a SQLite session file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..exceptions import AgentError
from ._common import add_agent_options
from ._visible import exact, visible

HELP = """\
Type a question and press Enter. A line that ends in \\ continues on the next line.
Commands: /thinking on|off, /tools, /clear (forget the conversation), /help, /exit.
Ctrl-C stops the current answer; Ctrl-D (end of input) or /exit ends the chat."""

STOPPED = "stopped: what ran is kept (a call cut short is answered that it may have partly run)"
"""What the chat says when Ctrl-C stops an answer."""


def add(subparsers: Any) -> None:
    parser = subparsers.add_parser("chat", help="chat in the terminal",
                                   description="Chat in the terminal; the conversation is remembered.\n\n" + HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument(
        "--session",
        metavar="FILE",
        help="keep the conversation in this SQLite file: loaded at start, each exchange stored",
    )
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
    """The conversation: what the agent is sent, the thinking switch, and the slash commands.

    The conversation is always in a session (without --session, a `MemorySession`), so a run that
    is stopped or fails keeps its calls that ran, and the next question starts from what is stored.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        from ..sessions import MemorySession, SQLiteSession
        from ._common import build_agent
        from ._form import terminal_elicit
        from ._render import EventPrinter

        self.agent = build_agent(args, elicit=terminal_elicit())
        self.thinking: bool | None = args.thinking
        self.session: Any = SQLiteSession(args.session, args.session_id) if args.session else MemorySession()
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
            import anyio

            anyio.run(self.session.clear)
            print("the conversation is forgotten")
        elif name == "/help":
            print(HELP)
        else:
            print(f"unknown command {line!r}; /help lists them")
        return True

    def ask(self, question: str) -> None:
        """Answer one question, streamed; Ctrl-C stops it (the calls that ran are kept).

        Calls still waiting for approval are denied first: the person asked something else.
        """
        import anyio

        from ._pending import new_question

        for _ in range(2):  # again once, after calls claimed by a run that stopped are settled
            if self.go(new_question(anyio.run(self.session.get_messages), question)):
                return

    def go(self, input: list[dict[str, Any]], approvals: dict[str, Any] | None = None) -> bool:
        """One run (a question, or a resume with `approvals`), streamed; then the person decides on
        the calls it left waiting, and the run resumes, until none waits or nobody answers. False
        when the run found its calls claimed by another run, and the person settled them."""
        import anyio

        from ..exceptions import AgentError, ResumeConflictError, UserError

        options: dict[str, Any] = {"session": self.session}
        if self.thinking is not None:
            options["thinking"] = self.thinking
        if approvals is not None:
            options["approvals"] = approvals
        try:
            result = anyio.run(lambda: self.printer.run(self.agent, input, **options))
        except KeyboardInterrupt:
            self.printer.interrupted(STOPPED)
            return True
        except ResumeConflictError as e:
            return not self.settle(e.calls)
        except UserError:
            raise
        except AgentError as e:  # the run failed; the chat goes on from what the session kept
            self.printer.interrupted(f"failed: {type(e).__name__}: {' '.join(str(e).split())}")
            return True
        if result.pending:
            decisions = self.decide(result.pending)
            if decisions is not None:
                self.go([], decisions)
        return True

    def decide(self, calls: list[Any]) -> dict[str, Any] | None:
        """The person's decision on each call (y / n / a reason); None when they answer none
        (Ctrl-C, end of input): the calls wait, and a new question denies them."""
        from ._pending import PROMPT, decision, shown_arguments

        decisions: dict[str, Any] = {}
        for call in calls:
            verdict = None
            while verdict is None:
                try:
                    verdict = decision(input(f"approve {exact(call.name)}({shown_arguments(call.arguments)})? "
                                             + PROMPT))  # fmt: skip
                except EOFError:
                    return None
                except KeyboardInterrupt:
                    self.printer.interrupted("not decided: the calls wait; a new question denies them")
                    return None
            decisions[call.id] = verdict
        return decisions

    def settle(self, ids: list[str]) -> bool:
        """Calls another run of the session claimed to run and has not answered: say so, and offer
        to answer them "outcome unknown" (never run again). True when they were answered so."""
        import anyio

        from .._approvals import unanswered
        from ._pending import answer_unknown, shown_arguments

        calls = [c for c in unanswered(anyio.run(self.session.get_messages)) if c.id in ids]
        if not calls:
            return False
        for call in calls:
            print(f"the call {exact(call.name)}({shown_arguments(call.arguments)}) was approved and started "
                  "by another run of this conversation, which has not stored its outcome: that run is still "
                  "running it, or it stopped (crashed or was killed), and then the call may have run.")  # fmt: skip
        try:
            answer = input("answer it \"outcome unknown\" (the model is told it may have run; it is not run "
                           "again)? Only if no other chat on this conversation is running it. y / n: ")  # fmt: skip
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            self.printer.interrupted("the call waits, claimed: nothing more can be asked in this conversation "
                                     "until its outcome is stored")  # fmt: skip
            return False
        if not anyio.run(answer_unknown, self.session, calls):
            self.printer.interrupted("another run answered or claimed the call meanwhile: nothing was changed")
            return False
        print("answered: the outcome of the call is unknown")
        return True

    def resume_waiting(self) -> None:
        """A session that ends with calls waiting for approval: ask about them before anything else
        (first about those a run that stopped had claimed)."""
        import anyio

        from .._approvals import to_decide, unanswered
        from ._common import all_tools
        from ._pending import claimed_elsewhere

        stored = anyio.run(self.session.get_messages)
        waiting = unanswered(stored)
        if not waiting:
            return
        taken = anyio.run(claimed_elsewhere, self.session, waiting)
        if taken and not self.settle([c.id for c in taken]):
            return
        waiting = [c for c in waiting if c not in taken]
        try:
            tools = {t.name: t for t in anyio.run(all_tools, self.agent)}
        except AgentError as e:  # an MCP server that is down: the calls wait, a new question denies them
            self.printer.interrupted(f"cannot ask about the waiting calls: {' '.join(str(e).split())}")
            return
        # A waiting sub-agent's own calls are the ones to decide (`to_decide`).
        calls = [c for c in to_decide(stored, tools) if c.id not in {t.id for t in taken}]
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
