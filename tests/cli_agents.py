"""Agents the command-line and web tests name with ``--agent tests.cli_agents:NAME`` (run from the repo root)."""

import json

from agentkit import Agent, ModelError, tool
from agentkit._demo.weather import get_current_temperature
from agentkit.testing import ScriptedModel


def _echo(messages):
    questions = [m["content"] for m in messages if m["role"] == "user"]
    return f"{len(questions)} questions; the last: {json.dumps(questions[-1])}"


def _slow(messages):
    question = [m["content"] for m in messages if m["role"] == "user"][-1]
    if question == "quick":
        return "a quick answer"
    return "a very long answer " * 100_000


echo = Agent(ScriptedModel(_echo))
"""Answers with how many questions it was sent and the last one: shows what history a run got."""

slow = Agent(ScriptedModel(_slow, chunk=1, delay=0.05))
"""Streams an answer that does not end in a day unless the question is "quick": only Ctrl-C stops it."""

failing = Agent(ScriptedModel(lambda messages: ModelError("the server fell over")))
"""Every run fails with a ModelError."""

not_an_agent = 42


@tool
def shout() -> str:
    """Say a lot."""
    return "x" * 600


@tool
def broken() -> str:
    """Fail."""
    raise ValueError("no luck")


def _weather(messages):
    if messages[-1]["role"] == "user":
        calls = "".join(
            f'<tool_call>\n{{"name": "{name}", "arguments": {json.dumps(args)}}}\n</tool_call>'
            for name, args in [("get_current_temperature", {"location": "Oslo"}), ("shout", {}), ("broken", {})]
        )
        return f"<think>I need the temperature.</think>{calls}"
    return "<think>I have it.</think>It is 26.1 °C in Oslo."


weather = Agent(ScriptedModel(_weather), [get_current_temperature, shout, broken], system="Be brief.")
"""Thinks, calls three tools (one answers at length, one fails), thinks again and answers."""


# Terminal control sequences a model or a tool may send: clear the screen, write the clipboard
# (OSC 52), move the cursor, a C1 CSI, a bell, a carriage return that overwrites, right-to-left override.
HOSTILE = "\x1b[2J\x1b]52;c;ZXZpbA==\x07\x1b[1A\x9b31m\r\u202eevil"


@tool
def leak(note: str) -> str:
    """Return hostile text.

    Args:
        note: Anything.
    """
    return f"result {HOSTILE}\n\tindented"


@tool
def explode() -> str:
    """Fail with hostile text."""
    raise ValueError(f"boom {HOSTILE}")


def _escapes(messages):
    if messages[-1]["role"] == "user":
        calls = [("leak", {"note": f"arg {HOSTILE}"}), ("explode", {}), (f"ghost{HOSTILE}", {})]
        blocks = "".join(f'<tool_call>\n{json.dumps({"name": name, "arguments": args}, ensure_ascii=False)}\n</tool_call>'
                         for name, args in calls)  # fmt: skip
        return f"<think>thought {HOSTILE}</think>{blocks}"
    return f"answer {HOSTILE}\n\tnext line"


escapes = Agent(ScriptedModel(_escapes), [leak, explode])
"""Model text, reasoning, tool names, arguments, results and errors full of terminal control sequences."""

hostile_failure = Agent(ScriptedModel(lambda messages: ModelError(f"down {HOSTILE}")))
"""Every run fails with a message full of terminal control sequences."""


PAID: list[int] = []
"""The amounts `pay` paid, in this process; a child process also appends them to $AGENTKIT_TEST_PAID."""


@tool(requires_approval=True)
def pay(amount: int) -> str:
    """Pay an amount.

    Args:
        amount: How much.
    """
    import os

    PAID.append(amount)
    if os.environ.get("AGENTKIT_TEST_PAID"):
        with open(os.environ["AGENTKIT_TEST_PAID"], "a") as f:
            f.write(f"{amount}\n")
    return f"paid {amount}"


def _payments(messages):
    last = messages[-1]
    if last["role"] == "tool":
        tail: list[str] = []
        for m in reversed(messages):
            if m["role"] != "tool":
                break
            tail.insert(0, m["content"])
        return "tool said: " + " | ".join(tail)
    question = last["content"]
    amounts = [int(word) for word in question.split() if word.isdigit()]
    if question.startswith("pay") and amounts:
        return "".join(f'<tool_call>\n{{"name": "pay", "arguments": {{"amount": {a}}}}}\n</tool_call>' for a in amounts)
    denied = sum("the user asked something else instead" in str(m.get("content")) for m in messages)
    return f"you asked: {question} ({denied} calls denied by a new question)"


payments = Agent(ScriptedModel(_payments), [pay])
"""Calls `pay` (which needs approval) once per number in a question that starts with "pay"; after
the calls, says what the tools said; otherwise repeats the question and counts the calls a new
question denied."""


def _slow_payments(messages):
    said = _payments(messages)
    return said + " and so on" * 100_000 if said.startswith("tool said") else said


slow_payments = Agent(ScriptedModel(_slow_payments, chunk=4, delay=0.05), [pay])
"""`payments`, whose answer after the calls streams for hours: only Ctrl-C stops it."""


@tool(name="pay", requires_approval=True)
async def _hanging_pay(amount: int) -> str:
    """Pay an amount (never finishes).

    Args:
        amount: How much.
    """
    import os

    import anyio

    with open(os.environ["AGENTKIT_TEST_PAID"], "a") as f:
        f.write(f"started {amount}\n")
    await anyio.sleep_forever()
    return "unreachable"


hanging_payments = Agent(ScriptedModel(_payments), [_hanging_pay])
"""`payments`, whose `pay` notes in $AGENTKIT_TEST_PAID that it started and then never ends: only Ctrl-C stops it."""

SPACED = '<tool_call>\n{"name": "pay", "arguments": {' + "\n" * 60 + '"amount": 5}}\n</tool_call>'
spaced_payments = Agent(ScriptedModel(lambda m: SPACED if m[-1]["role"] == "user" else "done"), [pay])
"""Calls `pay` with arguments whose JSON whitespace holds 60 newlines."""


def _payments_then_failing(messages):
    return ModelError("the server fell over") if messages[-1]["role"] == "tool" else _payments(messages)


payments_then_failing = Agent(ScriptedModel(_payments_then_failing), [pay])
"""`payments`, whose model fails once the calls are answered."""


def _delegating(messages):
    last = messages[-1]
    if last["role"] == "tool":
        return "the payer said: " + last["content"]
    if last["content"].startswith("pay"):
        call = {"name": "payer", "arguments": {"input": last["content"]}}
        return f"<tool_call>\n{json.dumps(call)}\n</tool_call>"
    return "you asked: " + last["content"]


delegating = Agent(ScriptedModel(_delegating), [Agent(ScriptedModel(_payments), [pay], name="payer").as_tool()])
"""Asks its sub-agent `payer` (`payments` as a tool) to pay: the approval is the sub-agent's."""


try:  # the MCP agents below need the SDK (agentkit[mcp]); the others do not
    import mcp  # noqa: F401

    _HAS_MCP = True
except ImportError:
    _HAS_MCP = False


def _asker(messages):
    if messages[-1]["role"] == "user":
        return '<tool_call>\n{"name": "ask_person", "arguments": {}}\n</tool_call>'
    return f"tool said: {messages[-1]['content']}"


def _asking_server():
    import sys
    from pathlib import Path

    from agentkit.cli._form import terminal_elicit
    from agentkit.mcp import MCPToolset

    server = Path(__file__).parent / "mcp_servers" / "asking_server.py"
    return MCPToolset.stdio(sys.executable, [str(server)], include=["ask_person"], elicit=terminal_elicit())


asking = Agent(ScriptedModel(_asker), [_asking_server()] if _HAS_MCP else [])
"""Calls the MCP server's ``ask_person`` (an elicitation of a name and an age, asked in the terminal) and
says what the tool answered."""


def _page_asking_server():
    import sys
    from pathlib import Path

    from agentkit.cli._page_form import page_elicit
    from agentkit.mcp import MCPToolset

    server = Path(__file__).parent / "mcp_servers" / "asking_server.py"
    return MCPToolset.stdio(sys.executable, [str(server)], include=["ask_person"], elicit=page_elicit)


page_asking = Agent(ScriptedModel(_asker), [_page_asking_server()] if _HAS_MCP else [])
"""`asking` for ``agentkit web``: the server's form is asked on the page."""


def _orderer(messages):
    if messages[-1]["role"] == "user":
        return '<tool_call>\n{"name": "order", "arguments": {}}\n</tool_call>'
    return f"tool said: {messages[-1]['content']}"


def _page_form_server():
    import sys
    from pathlib import Path

    from agentkit.cli._page_form import page_elicit
    from agentkit.mcp import MCPToolset

    server = Path(__file__).parent / "mcp_servers" / "form_server.py"
    return MCPToolset.stdio(sys.executable, [str(server)], elicit=page_elicit)


page_ordering = Agent(ScriptedModel(_orderer), [_page_form_server()] if _HAS_MCP else [])
"""Calls the form server's ``order`` (a form of every kind of field, under a message of hostile HTML) on the page."""
