"""Text from models, tools and servers on a terminal (agentkit/cli/_visible.py): control
characters are shown, never acted on; ``--json`` keeps the data exact."""

import io
import json
import re
import sys
from pathlib import Path

import pytest

from agentkit.cli._visible import dump_json, visible
from tests.test_cli import agentkit

CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What a terminal acts on: C0 controls but newline and tab, DEL, C1 controls, bidi overrides."""


def test_run_shows_terminal_control_sequences_as_text_and_json_keeps_them_exact():
    from tests.cli_agents import HOSTILE

    run = agentkit("run", "--agent", "tests.cli_agents:escapes", "q")
    assert run.returncode == 0, run.stderr
    assert not CONTROLS.search(run.stdout), repr(CONTROLS.findall(run.stdout))
    shown = "\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07\\x1b[1A\\x9b31m\\x0d\\u202eevil"
    out = run.stdout
    assert f"thinking: thought {shown}" in out
    call = next(line for line in out.splitlines() if line.startswith("  -> leak("))
    assert "\\x9b31m\\r\\u202eevil" in call  # C1 and bidi are raw in the model's JSON text (ESC and CR: JSON escapes)
    assert f"  <- leak: result {shown}\n\tindented" in out  # newlines and tabs are kept
    assert f"  <- explode failed: ValueError: boom {shown}" in out
    assert f"  -> ghost{shown}(" in out and f"  <- ghost{shown} failed:" in out
    assert f"assistant: answer {shown}\n\tnext line" in out
    as_json = agentkit("run", "--json", "--agent", "tests.cli_agents:escapes", "q")
    data = json.loads(as_json.stdout)
    assert data["output"] == f"answer {HOSTILE}\n\tnext line"
    assert next(m["content"] for m in data["messages"] if m["role"] == "tool") == f"result {HOSTILE}\n\tindented"
    assert not CONTROLS.search(as_json.stdout)  # the JSON text escapes them; the data is exact


def test_a_failure_message_shows_control_sequences_as_text():
    run = agentkit("run", "--agent", "tests.cli_agents:hostile_failure", "q")
    assert run.returncode == 1
    assert not CONTROLS.search(run.stdout + run.stderr), repr(run.stdout + run.stderr)
    assert "\\x1b]52;c;ZXZpbA==" in run.stderr
    chat = agentkit("chat", "--agent", "tests.cli_agents:hostile_failure", input="q\n")
    assert not CONTROLS.search(chat.stdout) and "[failed: ModelError: down \\x1b[2J" in chat.stdout


@pytest.mark.parametrize(("text", "shown"), [
    ("\x1b[2J", "\\x1b[2J"), ("\x1b]52;c;ZXZpbA==\x07", "\\x1b]52;c;ZXZpbA==\\x07"), ("\x9b1A", "\\x9b1A"),
    ("a\rb", "a\\x0db"), ("a\r\nb", "a\nb"), ("\x00\x08\x0b\x0c\x1f\x7f\x80\x9f", "\\x00\\x08\\x0b\\x0c\\x1f\\x7f\\x80\\x9f"),
    ("\u202a\u202e\u2066\u2069", "\\u202a\\u202e\\u2066\\u2069"),
    ("tab\tnew\nline é 中 \u00a0 \u2029 \u200f", "tab\tnew\nline é 中 \u00a0 \u2029 \u200f"),  # kept as they are
])  # fmt: skip
def test_visible_writes_out_what_a_terminal_acts_on_and_keeps_the_rest(text, shown):
    assert visible(text) == shown


def test_dump_json_is_one_exact_line_without_control_characters():
    data = {"t": "a\x1b[2J\x9b\u202e\r\n\té", "n": [1, None]}
    out = io.StringIO()
    dump_json(data, out)
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1
    assert json.loads(text) == data and "é" in text  # UTF-8, not \u escapes, for ordinary text
    assert not CONTROLS.search(text)


def test_a_log_warning_naming_a_hostile_tool_reaches_the_terminal_as_text():
    server = Path(__file__).parent / "mcp_servers" / "escape_name.py"
    run = agentkit("run", "--mcp", f"{sys.executable} {server}", "hi", process=True)  # MCP over stdio needs real pipes
    warning = next(line for line in run.stderr.splitlines() if "are not checked" in line)
    assert not CONTROLS.search(run.stderr), repr(CONTROLS.findall(run.stderr))
    assert warning.startswith("the arguments of t\\x1b[2J\\x1b]52;c;cm0gLXJmIH4K\\x07 are not checked"), warning
