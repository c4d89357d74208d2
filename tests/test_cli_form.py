"""An MCP server's elicitation asked in ``agentkit chat`` (agentkit/cli/_form.py), and how ``--mcp``
names an HTTP server and its bearer token (``--mcp-token-env``)."""

import json
import sys

import pytest

from agentkit import Agent
from agentkit.cli._common import _mcp_server
from agentkit.cli._form import ask_form, convert
from agentkit.cli._main import build_parser
from agentkit.testing import ScriptedModel

from .agent_helpers import qw_call
from .mcp_servers import free_port, refusing_server, wait_for_port
from .test_cli import ROOT, agentkit, one_line_error

ASKING = str(ROOT / "tests" / "mcp_servers" / "asking_server.py")
SDK_SERVER = str(ROOT / "tests" / "mcp_servers" / "sdk_server.py")
pytestmark = pytest.mark.anyio
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Name"},
        "age": {"type": "integer", "default": 30},
        "colour": {"type": "string", "enum": ["red", "green"]},
        "pet": {"type": "boolean", "description": "has a pet"},
        "height": {"type": "number"},
    },
    "required": ["name", "colour"],
}


def answers(*lines):
    """A `read` that answers with `lines`, then end of input; what it was asked is in `.asked`."""
    queue = list(lines)

    def read(question):
        read.asked.append(question)
        if not queue:
            raise EOFError
        return queue.pop(0)

    read.asked = []
    return read


# --- the questions ---------------------------------------------------------------------------------


def test_each_field_is_asked_with_its_title_type_choices_and_default_and_converted(capsys):
    read = answers("Ada", "", "GREEN", "yes", "1.5")
    assert ask_form("Who?", SCHEMA, read) == {"name": "Ada", "colour": "green", "pet": True, "height": 1.5}
    assert read.asked == ["  Name: ", "  age [integer] (default: 30): ", "  colour [red / green]: ",
                          "  pet (has a pet) [yes / no] (optional): ", "  height [number] (optional): "]  # fmt: skip
    assert capsys.readouterr().out.startswith("\nthe MCP server asks: Who?\n")


def test_a_bad_value_is_asked_again_saying_what_is_wanted(capsys):
    read = answers("Ada", "old", "41", "blue", "", "red", "maybe", "no", "inf", "2")
    assert ask_form("Who?", SCHEMA, read) == {"name": "Ada", "age": 41, "colour": "red", "pet": False, "height": 2.0}
    out = capsys.readouterr().out
    assert "a whole number" in out and "one of: red, green" in out and "an answer is needed" in out
    assert "yes or no" in out and "a finite number" in out


@pytest.mark.parametrize("lines", [(), ("",), ("Ada", "3")])
def test_an_empty_first_answer_or_end_of_input_declines(lines, capsys):
    assert ask_form("Who?", SCHEMA, answers(*lines)) is None


def test_ctrl_c_declines(capsys):
    def read(question):
        raise KeyboardInterrupt

    assert ask_form("Who?", SCHEMA, read) is None


def test_the_servers_words_are_printed_with_control_characters_written_out(capsys):
    hostile = "\x1b[2Jpay\u202eme\r"
    schema = {"type": "object", "properties": {"x": {"type": "string", "title": hostile, "enum": ["ok", hostile]}}}
    read = answers("ok")
    assert ask_form(hostile, schema, read) == {"x": "ok"}
    out = capsys.readouterr().out + "".join(read.asked)
    assert "\x1b" not in out and "\u202e" not in out and "\r" not in out
    assert "\\x1b[2Jpay\\u202eme\\x0d" in out


def test_convert_leaves_a_string_as_typed():
    assert convert(" 7 ", {"type": "string"}) == " 7 "
    assert convert("2", {"oneOf": [{"const": 1}, {"const": 2}]}) == 2


# --- in the chat, with a real MCP server -----------------------------------------------------------


def test_the_chat_asks_the_person_and_the_server_gets_the_answer():
    run = agentkit("chat", "--agent", "tests.cli_agents:asking", input="who am I?\nAda\nold\n41\n", process=True)
    assert run.returncode == 0, run.stderr
    assert "the MCP server asks: Who are you?" in run.stdout
    assert "a whole number" in run.stdout  # "old" was asked again
    said = run.stdout.split("tool said: ")[1].splitlines()[0]
    assert json.loads(said) == {"action": "accept", "content": {"name": "Ada", "age": 41}}


def test_in_the_chat_an_empty_first_answer_declines():
    run = agentkit("chat", "--agent", "tests.cli_agents:asking", input="who am I?\n\n/exit\n")
    assert run.returncode == 0, run.stderr
    said = run.stdout.split("tool said: ")[1].splitlines()[0]
    assert json.loads(said)["action"] == "decline"


async def test_an_mcp_server_the_command_line_names_asks_through_the_chats_elicit():
    asked = []

    async def elicit(message, schema):
        asked.append(message)
        return {"name": "Bo"}

    toolset = _mcp_server(f"python {ASKING}", elicit)
    result = await Agent(ScriptedModel([qw_call("ask_person"), "ok"]), [toolset]).run("q")
    assert asked == ["Who are you?"]
    said = json.loads(result.messages[-2]["content"])
    assert said == {"action": "accept", "content": {"name": "Bo", "age": 30}}  # the default filled in


# --- --mcp URL and --mcp-token-env -----------------------------------------------------------------


@pytest.fixture
def sdk_http():
    import subprocess

    port = free_port()
    proc = subprocess.Popen([sys.executable, SDK_SERVER, "--http", str(port)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.kill()
        proc.wait()


def test_the_token_option_pairs_with_the_url_before_it():
    args = build_parser().parse_args(["chat", "--mcp", "python x.py", "--mcp", "http://h/mcp", "--mcp-token-env", "T"])
    assert args.mcp_token_env == {1: "T"}


@pytest.mark.parametrize("before", [[], ["--mcp", "python x.py"]])
def test_the_token_option_without_a_url_just_before_it_is_refused(before, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["chat", *before, "--mcp-token-env", "T"])
    assert "goes right after the --mcp URL" in capsys.readouterr().err


async def test_the_token_from_the_environment_reaches_the_server(sdk_http, monkeypatch):
    monkeypatch.setenv("MY_MCP_TOKEN", "s3cr3t-t0ken")
    args = build_parser().parse_args(["chat", "--mcp", sdk_http, "--mcp-token-env", "MY_MCP_TOKEN"])
    toolset = _mcp_server(args.mcp[0], None, args.mcp_token_env[0])
    result = await Agent(ScriptedModel([qw_call("whoami"), "ok"]), [toolset]).run("q")
    assert result.messages[-2]["content"] == "Bearer s3cr3t-t0ken"
    assert "s3cr3t" not in repr(toolset)


def test_a_token_variable_that_is_not_set_is_said_by_its_name(monkeypatch):
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    run = agentkit("chat", "--mcp", "http://127.0.0.1:9/mcp", "--mcp-token-env", "NO_SUCH_TOKEN", input="")
    one_line_error(run, "--mcp-token-env NO_SUCH_TOKEN", "not set")


def test_credentials_in_the_url_are_refused_without_showing_them():
    run = agentkit("chat", "--mcp", "http://me:pa55w0rd@127.0.0.1:9/mcp", input="")
    line = one_line_error(run, "leave credentials out of the URL", "--mcp-token-env")
    assert "pa55w0rd" not in line


def test_a_server_that_refuses_the_token_is_said_without_the_token():
    import os
    import subprocess

    with refusing_server() as port:
        run = subprocess.run(
            [sys.executable, "-m", "agentkit", "chat", "--mcp", f"http://127.0.0.1:{port}/mcp",
             "--mcp-token-env", "MY_MCP_TOKEN"],
            input="/tools\n", capture_output=True, text=True, cwd=ROOT, timeout=240,
            env={**os.environ, "PYTHONPATH": str(ROOT), "MY_MCP_TOKEN": "s3cr3t-t0ken"},
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "cannot list the tools" in run.stdout and "authorization" in run.stdout
    assert "s3cr3t" not in run.stdout + run.stderr


def secrets_in(data):
    """The values of the token and secret fields anywhere in `data`."""
    if isinstance(data, dict):
        own = [v for k, v in data.items() if k in ("access_token", "refresh_token", "client_secret") and v]
        return own + [s for v in data.values() for s in secrets_in(v)]
    return [s for v in data for s in secrets_in(v)] if isinstance(data, list) else []


def test_oauth_signs_in_once_through_the_browser_and_keeps_the_tokens_private(tmp_path):
    import os
    import stat
    import subprocess

    from .test_mcp_auth import running

    # The browser: a person who approves at once (the redirect comes back to agentkit). It returns at once,
    # as a browser started by webbrowser does, and visits in the background.
    visit = tmp_path / "visit.py"
    visit.write_text("import os, sys, urllib.request\nif os.fork() == 0:\n"
                     "    urllib.request.urlopen(sys.argv[1], timeout=60).read()\n")  # fmt: skip
    cache = tmp_path / "cache"

    def chat(servers, browser):
        return subprocess.run(
            [sys.executable, "-m", "agentkit", "chat", "--mcp", servers.url, "--mcp-oauth"],
            input="/tools\n", capture_output=True, text=True, cwd=ROOT, timeout=240,
            env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(cache), "BROWSER": browser},
        )  # fmt: skip

    with running(tmp_path) as servers:
        first = chat(servers, f"{sys.executable} {visit} %s")
        assert first.returncode == 0, first.stderr
        assert "whoami: Say that the caller got in." in first.stdout
        stored = cache / "agentkit" / "mcp-oauth.json"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
        tokens = secrets_in(json.loads(stored.read_text()))
        assert tokens and not any(t in first.stdout + first.stderr for t in tokens)
        second = chat(servers, "false %s")  # no browser: the kept token is used
        assert second.returncode == 0, second.stderr
        assert "whoami: Say that the caller got in." in second.stdout
        authorizations = [r for r in servers.requests("as") if r["path"] == "/authorize"]
        assert len(authorizations) == 1


def test_oauth_and_a_token_for_one_server_is_a_mistake():
    run = agentkit("chat", "--mcp", "http://127.0.0.1:9/mcp", "--mcp-oauth", "--mcp-token-env", "T", input="")
    one_line_error(run, "not both")


def test_run_json_with_a_refused_token_says_authorization_without_the_token():
    import os
    import subprocess

    with refusing_server() as port:
        run = subprocess.run(
            [sys.executable, "-m", "agentkit", "run", "--json", "--mcp", f"http://127.0.0.1:{port}/mcp",
             "--mcp-token-env", "MY_MCP_TOKEN", "What's the temperature in Oslo now?"],
            capture_output=True, text=True, cwd=ROOT, timeout=240,
            env={**os.environ, "PYTHONPATH": str(ROOT), "MY_MCP_TOKEN": "s3cr3t-t0ken"},
        )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "authorization" in run.stdout + run.stderr
    assert "s3cr3t" not in run.stdout + run.stderr


class Terminal:
    """``agentkit ARGS`` on a pseudo-terminal, as a person runs it: `expect` waits for text on the screen."""

    def __init__(self, *args):
        import os
        import pty
        import subprocess

        self.master, slave = pty.openpty()
        self.child = subprocess.Popen(
            [sys.executable, "-m", "agentkit", *args], stdin=slave, stdout=slave, stderr=slave, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TERM": "dumb"}, close_fds=True,
        )  # fmt: skip
        os.close(slave)
        self.screen = ""

    def expect(self, text, timeout=120):
        import os
        import select
        import time

        deadline = time.monotonic() + timeout
        while text not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} did not appear; the screen:\n{self.screen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child ended
                    chunk = b""
                assert chunk, f"the program ended before {text!r} appeared; the screen:\n{self.screen}"
                self.screen += chunk.decode(errors="replace")
        at = self.screen.index(text) + len(text)
        seen, self.screen = self.screen[:at], self.screen[at:]
        return seen

    def type(self, text):
        import os

        os.write(self.master, text.encode())

    def close(self):
        import os

        self.child.kill()
        self.child.wait(30)
        os.close(self.master)


def test_in_a_terminal_the_form_is_asked_and_ctrl_d_declines():
    terminal = Terminal("chat", "--agent", "tests.cli_agents:asking")
    try:
        terminal.expect("you> ")
        terminal.type("who am I?\r")
        terminal.expect("the MCP server asks: Who are you?")
        terminal.expect("Name: ")
        terminal.type("Ada\r")
        terminal.expect("Age [integer] (default: 30): ")
        terminal.type("\r")  # the default
        said = terminal.expect("you> ")
        assert '"content": {"name": "Ada", "age": 30}' in said
        terminal.type("again\r")
        terminal.expect("Name: ")
        terminal.type("\x04")  # Ctrl-D: declined, and the chat goes on
        said = terminal.expect("you> ")
        assert '"action": "decline"' in said
    finally:
        terminal.close()


def test_chat_and_web_give_their_servers_a_person_to_ask_and_run_gives_none(monkeypatch):
    from agentkit.cli import _common
    from agentkit.cli._main import CLIError
    from agentkit.cli._page_form import page_elicit

    given = {}

    def build_agent(args, *, elicit=None):
        given[args.command] = elicit
        raise CLIError("enough")

    monkeypatch.setattr(_common, "build_agent", build_agent)
    for command in (["chat"], ["web", "--port", "0"], ["run", "hi"]):
        one_line_error(agentkit(*command, input=""), "enough")
    assert given["web"] is page_elicit
    assert "terminal_elicit" in given["chat"].__qualname__
    assert given["run"] is None
