"""The ``agentkit`` command, run as a user runs it: ``python -m agentkit`` in a child process.

The demo model answers the weather questions for real; `tests/cli_agents.py` holds scripted
agents (``--agent``) where a test needs a known answer, a failure or a slow stream.
"""

import contextlib
import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from agentkit.cli import main
from agentkit.cli._chat import STOPPED
from agentkit.sessions import SQLiteSession
from tests import cli_agents

ROOT = Path(__file__).resolve().parents[1]
OSLO = "What's the temperature in Oslo now?"
needs_demo = pytest.mark.skipif(
    not (ROOT / "agentkit/_demo/model.safetensors").exists(), reason="the demo model is not built"
)


def env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def sigint_default():
    """`preexec_fn` of a child that a test interrupts: SIGINT back to its default. Started from a
    process that ignores it (`nohup pytest &`), the child would inherit that, and ignore Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def agentkit(*args, input=None, cwd=None, process=False):
    """Run the command: in this process (``main(args)``, stdin and stdout swapped), or with
    ``process=True`` as ``python -m agentkit`` in a child, as a user runs it."""
    if process:
        return subprocess.run([sys.executable, "-m", "agentkit", *args], input=input, capture_output=True, text=True,
                              cwd=cwd or ROOT, env=env(), timeout=240)  # fmt: skip
    out, err, stdin, here = io.StringIO(), io.StringIO(), sys.stdin, os.getcwd()
    try:
        os.chdir(cwd or ROOT)
        sys.stdin = io.StringIO(input or "")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as e:  # argparse's own errors
                status = e.code
    finally:
        sys.stdin = stdin
        os.chdir(here)
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def one_line_error(run, *words):
    """The run failed as a caller's mistake: status 2, one line on stderr saying `words`, no traceback."""
    assert run.returncode == 2, (run.returncode, run.stderr)
    lines = [line for line in run.stderr.splitlines() if line]
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- agentkit run -------------------------------------------------------------------------


@needs_demo
def test_run_streams_the_weather_run_on_the_demo_model_by_default():
    run = agentkit("run", OSLO, process=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"user: {OSLO}\n")
    assert '  -> get_current_temperature({"location": "Oslo"})' in run.stdout
    assert '  <- get_current_temperature: {"temperature": 26.1' in run.stdout
    assert re.search(r"assistant: .*26\.1", run.stdout)
    assert "[2 model calls, " in run.stdout
    assert "\033[" not in run.stdout  # no colours when stdout is not a terminal
    assert "Loading weights" not in run.stderr  # transformers' progress bar is not shown


@needs_demo
def test_run_thinking_switch_reaches_the_model():
    thinking = agentkit("run", "--thinking", OSLO)
    plain = agentkit("run", "--no-thinking", OSLO)
    assert thinking.returncode == plain.returncode == 0
    assert "\nthinking: " in thinking.stdout
    assert "thinking: " not in plain.stdout and "26.1" in plain.stdout


@needs_demo
def test_run_json_prints_exactly_one_json_object_and_nothing_else():
    run = agentkit("run", "--json", "--system", "Answer about the weather.", OSLO)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)  # the whole of stdout is one object
    assert {"output", "reasoning", "messages", "usage", "turns", "pending"} <= set(data)
    assert "26.1" in data["output"] and data["turns"] == 2 and data["pending"] == []
    assert data["messages"][0] == {"role": "system", "content": "Answer about the weather."}
    assert data["messages"][1] == {"role": "user", "content": OSLO}
    assert data["messages"][2]["tool_calls"][0]["function"]["name"] == "get_current_temperature"
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"] > 0


@needs_demo
def test_named_tools_replace_the_weather_tools_and_load_from_the_current_directory(tmp_path):
    (tmp_path / "mytools.py").write_text(
        "def add(a: int, b: int) -> int:\n"
        '    """Add two numbers.\n\n    Args:\n        a: One.\n        b: The other.\n    """\n'
        "    return a + b\n"
    )
    spec = ["--tools", "mytools:add", "--tools", "agentkit._demo.weather:get_temperature_date"]
    run = agentkit("chat", *spec, input="/tools\n", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["  add: Add two numbers.", "  get_temperature_date: Get temperature at a location and date."]


@needs_demo
def test_run_json_on_the_demo_model_writes_nothing_on_stderr():
    run = agentkit("run", "--json", OSLO, process=True)  # stderr is a pipe, not a terminal
    assert run.returncode == 0, run.stderr
    assert "26.1" in json.loads(run.stdout)["output"]
    assert run.stderr == ""  # no progress bar, no warning


@needs_demo
def test_the_demo_model_with_other_tools_warns_that_it_knows_only_the_weather_tools(tmp_path):
    (tmp_path / "mytools.py").write_text(
        "def add(a: int, b: int) -> int:\n"
        '    """Add two numbers.\n\n    Args:\n        a: One.\n        b: The other.\n    """\n'
        "    return a + b\n"
    )
    run = agentkit("chat", "--tools", "mytools:add", input="/tools\n", cwd=tmp_path, process=True)
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [
        "agentkit chat: warning: the built-in demo model knows only the weather tools (get_current_temperature, "
        "get_temperature_date): with other tools (add) its answers are nonsense; name a model with --model or --base-url"
    ]
    # The weather tools themselves, named with --tools, are what it knows: no warning.
    weather = agentkit("chat", "--tools", "agentkit._demo.weather:TOOLS", input="/tools\n", process=True)
    assert weather.returncode == 0 and weather.stderr == "", weather.stderr


def test_run_shows_reasoning_each_call_and_result_a_failure_and_the_answer():
    run = agentkit("run", "--agent", "tests.cli_agents:weather", "How warm is Oslo?")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:6] == [
        "user: How warm is Oslo?", "", "thinking: I need the temperature.",
        '  -> get_current_temperature({"location": "Oslo"})', "  -> shout({})", "  -> broken({})",
    ]  # fmt: skip
    assert sorted(lines[6:9]) == [  # the tools run concurrently: their results come in any order
        "  <- broken failed: ValueError: no luck",
        '  <- get_current_temperature: {"temperature": 26.1, "location": "Oslo", "unit": "celsius"}',
        "  <- shout: " + "x" * 500 + "… (100 more characters)",  # shortened on screen only
    ]
    assert lines[9:12] == ["thinking: I have it.", "assistant: It is 26.1 °C in Oslo.", ""]
    assert re.fullmatch(r"\[2 model calls, \d+ tokens\]", lines[12]) and len(lines) == 13


def test_run_json_has_the_reasoning_and_usage():
    run = agentkit("run", "--json", "--agent", "tests.cli_agents:weather", "How warm is Oslo?")
    data = json.loads(run.stdout)
    assert data["output"] == "It is 26.1 °C in Oslo." and data["reasoning"] == "I have it."
    assert data["usage"]["tool_calls"] == 3 and data["usage"]["requests"] == data["turns"] == 2
    assert "x" * 600 in [m.get("content") for m in data["messages"]]  # the model got all of it
    assert '"output": "It is 26.1 °C in Oslo."' in run.stdout  # UTF-8 as it is, not \u escapes


def test_printer_colours_only_when_asked():
    from agentkit import ReasoningDelta, TextDelta
    from agentkit.cli import EventPrinter

    for color, expected in [
        (True, "\n\033[2mthinking: hm\033[0m\n\033[1massistant:\033[0m ok"),
        (False, "\nthinking: hm\nassistant: ok"),
    ]:
        out = io.StringIO()
        printer = EventPrinter(out, color=color)
        for event in (ReasoningDelta("h"), ReasoningDelta("m"), TextDelta("o"), TextDelta("k")):
            printer.event(event)
        assert out.getvalue() == expected


def test_thinking_option_reaches_an_agent_specs_model():
    model = cli_agents.echo.model
    for option, expected in [("--thinking", True), ("--no-thinking", False)]:
        assert agentkit("run", option, "--agent", "tests.cli_agents:echo", "hi").returncode == 0
        assert model.calls[-1].thinking is expected
    agentkit("run", "--agent", "tests.cli_agents:echo", "hi")
    assert model.calls[-1].thinking is None


@needs_demo
def test_two_tools_with_one_name():
    spec = ["--tools", "agentkit._demo.weather:TOOLS", "--tools", "agentkit._demo.weather:get_current_temperature"]
    one_line_error(agentkit("run", *spec, "hi"), "two tools are named 'get_current_temperature'")


def test_run_with_an_agent_spec_uses_that_agent():
    run = agentkit("run", "--agent", "tests.cli_agents:echo", "hello there")
    assert run.returncode == 0, run.stderr
    assert 'assistant: 1 questions; the last: "hello there"' in run.stdout


def test_a_failed_run_is_one_line_and_status_1():
    run = agentkit("run", "--agent", "tests.cli_agents:failing", "hi")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == ["agentkit run: ModelError: the server fell over"]


def test_a_failed_run_with_json_still_prints_one_json_object():
    run = agentkit("run", "--json", "--agent", "tests.cli_agents:failing", "hi")
    assert run.returncode == 1
    data = json.loads(run.stdout)
    assert data["output"] is None
    assert data["error"] == {"type": "ModelError", "message": "the server fell over"}
    assert data["messages"][-1] == {"role": "user", "content": "hi"}


# --- bad input: one line, status 2 ----------------------------------------------------------


def test_unknown_tools_module():
    one_line_error(agentkit("run", "--tools", "no_such_module_xyz:tools", "hi"), "no_such_module_xyz", "cannot import")


def test_tools_spec_naming_something_else():
    one_line_error(agentkit("run", "--tools", "agentkit:__version__", "hi"), "agentkit:__version__", "str")
    one_line_error(agentkit("run", "--tools", "agentkit", "hi"), "MODULE:ATTR")


def test_agent_spec_that_is_not_an_agent():
    one_line_error(agentkit("run", "--agent", "tests.cli_agents:not_an_agent", "hi"), "not an Agent")


def test_agent_with_tools_is_refused():
    one_line_error(agentkit("run", "--agent", "tests.cli_agents:echo", "--tools", "x:y", "hi"), "--agent")


def test_a_server_that_is_down():
    url = f"http://127.0.0.1:{free_port()}/v1"
    one_line_error(agentkit("run", "--base-url", url, "hi"), url, "cannot use the server")
    one_line_error(agentkit("run", "--base-url", url, "hi", process=True), url, "cannot use the server")


def test_a_model_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "no-model"
    one_line_error(agentkit("run", "--model", str(missing), "hi"), str(missing), "no such directory")


def test_a_model_directory_that_holds_no_model(tmp_path):
    one_line_error(agentkit("run", "--model", str(tmp_path), "hi"), str(tmp_path), "cannot load")


def test_empty_question():
    one_line_error(agentkit("run", "  ", "--agent", "tests.cli_agents:echo"), "empty")


def test_base_url_and_model_together_are_refused_by_argparse():
    run = agentkit("run", "--base-url", "http://x/v1", "--model", "m", "hi", process=True)
    assert run.returncode == 2 and "not allowed with" in run.stderr and "Traceback" not in run.stderr


# --- agentkit chat --------------------------------------------------------------------------


def test_chat_keeps_history_multi_line_input_clear_and_exit():
    lines = ["first", "second \\", "and more", "/clear", "third", "/exit", "never asked"]
    run = agentkit("chat", "--agent", "tests.cli_agents:echo", input="\n".join(lines) + "\n")
    assert run.returncode == 0, run.stderr
    answers = re.findall(r"assistant: (.*)", run.stdout)
    assert answers == [
        '1 questions; the last: "first"',
        '2 questions; the last: "second \\nand more"',  # the backslash joined two lines
        '1 questions; the last: "third"',  # /clear forgot the first two
    ]
    assert "the conversation is forgotten" in run.stdout
    assert "never asked" not in run.stdout


def test_chat_output_without_a_terminal_is_the_answers_only():
    run = agentkit("chat", "--agent", "tests.cli_agents:echo", input="a \\\nb \\")
    assert run.returncode == 0
    # No prompts (stdin is not a terminal); the last line's backslash at end of input ends the question.
    lines = run.stdout.splitlines()
    assert lines[:3] == ["", 'assistant: 1 questions; the last: "a \\nb "', ""]
    assert re.fullmatch(r"\[1 model calls, \d+ tokens\]", lines[3]) and len(lines) == 4


def test_chat_commands_and_the_thinking_toggle():
    model = cli_agents.echo.model
    before = len(model.calls)
    commands = "/thinking\n/thinking ON\n/thinking\none\n/thinking off\ntwo\n/thinking\n/tools\n/help\n/nope\n/quit\nthree\n"
    run = agentkit("chat", "--agent", "tests.cli_agents:echo", input=commands)
    assert run.returncode == 0
    assert [call.thinking for call in model.calls[before:]] == [True, False]  # /quit ended it: "three" was not asked
    lines = [line for line in run.stdout.splitlines() if not line.startswith(("assistant:", "[")) and line]
    assert lines == [
        "thinking is the model's default", "thinking is on", "thinking is on", "thinking is off", "thinking is off",
        "  (no tools)",
        *chat_help(), "unknown command '/nope'; /help lists them",
    ]  # fmt: skip


def test_chat_lists_the_tools():
    run = agentkit("chat", "--agent", "tests.cli_agents:weather", input="/tools\n")
    assert run.stdout.splitlines() == [
        "  get_current_temperature: Get current temperature at a location.", "  shout: Say a lot.", "  broken: Fail.",
    ]  # fmt: skip


def chat_help():
    from agentkit.cli._chat import HELP

    return HELP.splitlines()


def test_chat_ends_with_status_0_at_end_of_input():
    run = agentkit("chat", "--agent", "tests.cli_agents:echo", input="hello\n")
    assert run.returncode == 0 and 'the last: "hello"' in run.stdout


def test_chat_a_failed_answer_does_not_end_the_chat():
    run = agentkit("chat", "--agent", "tests.cli_agents:failing", input="one\ntwo\n")
    assert run.returncode == 0
    assert run.stdout.count("[failed: ModelError: the server fell over]") == 2


@needs_demo
def test_chat_slash_commands_on_the_demo_model():
    run = agentkit("chat", input=f"/tools\n/thinking on\n{OSLO}\n/thinking off\n{OSLO}\n/thinking\n/nope\n")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "  get_current_temperature: Get current temperature at a location." in out
    assert "  get_temperature_date: Get temperature at a location and date." in out
    first, second = out.split("thinking is off\n", 1)
    assert "\nthinking: " in first and "26.1" in first
    assert "thinking: " not in second.split("thinking is off")[0] and "26.1" in second
    assert "unknown command '/nope'" in out


def test_chat_session_file_keeps_the_conversation_across_runs(tmp_path):
    db = tmp_path / "chat.db"
    first = agentkit("chat", "--agent", "tests.cli_agents:echo", "--session", str(db), input="my name is Ada\n")
    second = agentkit("chat", "--agent", "tests.cli_agents:echo", "--session", str(db), input="who am I?\n")
    assert first.returncode == second.returncode == 0
    assert 'assistant: 2 questions; the last: "who am I?"' in second.stdout
    stored = anyio.run(SQLiteSession(db, "chat").get_messages)
    assert [m["content"] for m in stored] == [
        "my name is Ada", '1 questions; the last: "my name is Ada"',
        "who am I?", '2 questions; the last: "who am I?"',
    ]  # fmt: skip
    other = agentkit("chat", "--agent", "tests.cli_agents:echo", "--session", str(db), "--session-id", "b",
                     input="hi\n")  # fmt: skip
    assert 'assistant: 1 questions; the last: "hi"' in other.stdout
    cleared = agentkit("chat", "--agent", "tests.cli_agents:echo", "--session", str(db), input="/clear\n")
    assert cleared.stdout == "the conversation is forgotten\n"
    assert anyio.run(SQLiteSession(db, "chat").get_messages) == []


def test_ctrl_c_stops_the_answer_not_the_chat():
    child = subprocess.Popen([sys.executable, "-m", "agentkit", "chat", "--agent", "tests.cli_agents:slow"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT, env=env(), preexec_fn=sigint_default)  # fmt: skip
    out: list[str] = []
    started, answered = threading.Event(), threading.Event()

    def read():
        for line in iter(lambda: child.stdout.read(1), ""):
            out.append(line)
            text = "".join(out)
            if "a very long answer" in text:
                started.set()
            if "a quick answer" in text:
                answered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        child.stdin.write("tell me a long story\n")
        child.stdin.flush()
        assert started.wait(120), "".join(out)
        child.send_signal(signal.SIGINT)
        child.stdin.write("quick\n")
        child.stdin.flush()
        assert answered.wait(120), "".join(out)
        child.stdin.close()
        assert child.wait(60) == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reader.join(10)
    text = "".join(out)
    # The long answer ends only when stopped: it was cut short, and nothing of it came after.
    stopped, after = text.split(f"[{STOPPED}]")
    assert "a very long answer" in stopped and "a very long answer" not in after
    assert "a quick answer" in after
    assert "Traceback" not in child.stderr.read()


def wait_until_reading(child):
    """Wait until `child` is blocked reading its stdin (Linux's /proc says so): a SIGINT sent
    before that, between printing a prompt and reading, is handled only once the read returns."""
    wchan, syscall = Path(f"/proc/{child.pid}/wchan"), Path(f"/proc/{child.pid}/syscall")
    if not wchan.exists():
        pytest.skip("no /proc/PID/wchan to see that the child waits for input")
    while child.poll() is None:
        with contextlib.suppress(OSError):
            if wchan.read_text().endswith("pipe_read") or syscall.read_text().startswith("0 "):
                return
        time.sleep(0.01)  # polling the condition, not waiting for a time
    raise AssertionError(f"the child ended with status {child.returncode}")



# --- what runs from the current directory ------------------------------------------------------

# What pip writes for the `agentkit` console script: it puts the script's own folder, not the
# current directory, first on sys.path.
CONSOLE_SCRIPT = """\
import re
import sys
from agentkit.cli import main
from agentkit.cli._chat import STOPPED
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def console_script(tmp_path, *args, cwd):
    """``agentkit ARGS`` as the installed console script runs, in `cwd`."""
    script = tmp_path / "bin" / "agentkit"
    script.parent.mkdir(exist_ok=True)
    script.write_text(CONSOLE_SCRIPT)
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=cwd,
                          env=env(), timeout=240)  # fmt: skip


def booby_trap(folder, names, marker):
    """Modules in `folder` named like the standard library's and installed packages' that, imported, write to `marker`."""
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n")


# Imported late, if at all: by the demo model (transformers, torch...), a session (sqlite3), the page
# (uvicorn), MCP (mcp), or a user's tools module (mdurl: installed, imported by nothing of ours).
TRAPS = ("transformers", "torch", "safetensors", "tokenizers", "json", "sqlite3", "uvicorn", "mcp", "mdurl")


@needs_demo
def test_the_console_script_imports_nothing_from_the_current_directory(tmp_path):
    marker, here = tmp_path / "ran", tmp_path / "here"
    booby_trap(here, TRAPS, marker)
    run = console_script(tmp_path, "run", OSLO, cwd=here)
    assert not marker.exists(), f"imported from the current directory: {marker.read_text().split()}"
    assert run.returncode == 0, run.stderr
    assert re.search(r"assistant: .*26\.1", run.stdout)


@needs_demo
def test_a_tools_spec_imports_its_module_from_the_current_directory_but_nothing_that_shadows(tmp_path):
    marker, here = tmp_path / "ran", tmp_path / "here"
    booby_trap(here, TRAPS, marker)
    (here / "mytools.py").write_text("import mdurl\nfrom agentkit._demo.weather import TOOLS\n")
    run = console_script(tmp_path, "run", "--tools", "mytools:TOOLS", OSLO, cwd=here)
    assert not marker.exists(), f"imported from the current directory: {marker.read_text().split()}"
    assert run.returncode == 0, run.stderr
    assert re.search(r"assistant: .*26\.1", run.stdout)  # mytools was found, in the current directory



def test_a_module_named_like_an_installed_one_is_refused_with_a_clear_message(tmp_path):
    (tmp_path / "mdurl.py").write_text("TOOLS = []\n")
    line = one_line_error(agentkit("run", "--tools", "mdurl:TOOLS", "q", cwd=tmp_path), "'mdurl' is the installed")
    assert "rename your module" in line and str(tmp_path / "mdurl.py") in line

# --- MODULE:ATTR specs and the JSON result ---------------------------------------------------


def test_load_tools_takes_a_list_one_tool_a_function_or_an_agent(tmp_path, monkeypatch):
    from agentkit import Tool
    from agentkit.cli import SpecError, load_object, load_tools

    (tmp_path / "spec_mod.py").write_text(
        "from agentkit import Agent, tool\n"
        "from agentkit.testing import ScriptedModel\n"
        "def plain(a: int) -> int:\n    '''Plain.\n\n    Args:\n        a: A.\n    '''\n    return a\n"
        "class Box:\n    class Inner:\n        value = 7\n"
        "wrapped = tool(plain)\n"
        "many = [plain, wrapped]\n"
        "agent = Agent(ScriptedModel(['x']), [plain])\n"
        "class Toolset:\n    async def list_tools(self): return []\n"
        "mixed = (Toolset(),)\n"
        "bad_item = [plain, 3]\n"
        "def untypable(x): pass\n"
        "bad_function = [untypable]\n"
    )
    monkeypatch.chdir(tmp_path)  # MODULE comes from the current directory
    assert [t.name for t in load_tools("spec_mod:many")] == ["plain", "plain"]
    assert all(isinstance(t, Tool) for t in load_tools("spec_mod:many"))
    assert load_tools("spec_mod:wrapped")[0] is load_object("spec_mod:wrapped")
    assert [t.name for t in load_tools("spec_mod:plain")] == ["plain"]
    assert [t.name for t in load_tools("spec_mod:agent")] == ["plain"]
    assert type(load_tools("spec_mod:mixed")[0]).__name__ == "Toolset"
    assert load_object("spec_mod:Box.Inner.value") == 7
    for spec, words in [
        ("spec_mod:bad_item", "holds a int"), ("spec_mod:bad_function", "'untypable' is not a tool"),
        ("spec_mod:Box.Inner.nothing", "has no attribute 'Box.Inner.nothing'"), ("spec_mod:", "not MODULE:ATTR"),
        (":x", "not MODULE:ATTR"), ("spec_mod:Box.Inner.value", "is of type int, not a tool"),
    ]:  # fmt: skip
        with pytest.raises(SpecError) as e:
            load_tools(spec)
        assert words in str(e.value), (spec, str(e.value))
    (tmp_path / "broken_mod.py").write_text("raise RuntimeError('half written')\n")
    with pytest.raises(SpecError, match=r"importing 'broken_mod' .* failed: RuntimeError: half written"):
        load_object("broken_mod:x")


def test_result_dict_makes_typed_outputs_json_data():
    import dataclasses as dc

    import pydantic

    from agentkit import RunResult, ToolCall, Usage
    from agentkit.cli import result_dict

    class City(pydantic.BaseModel):
        name: str

    @dc.dataclass
    class Point:
        x: int

    pending = ToolCall(id="c1", name="f", arguments="{}")
    usage = Usage(prompt_tokens=2, completion_tokens=3)
    for output, plain in [(City(name="Oslo"), {"name": "Oslo"}), (Point(x=1), {"x": 1}), ("text", "text"), (Point, Point)]:
        data = result_dict(RunResult(output=output, reasoning=None, messages=[], usage=usage, turns=1, pending=[pending]))
        assert data["output"] == plain
    assert data["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "requests": 0, "tool_calls": 0, "total_tokens": 5}
    assert data["pending"] == [pending.to_dict()] and data["turns"] == 1


# --- --mcp -----------------------------------------------------------------------------------


def time_server_command() -> str:
    pytest.importorskip("mcp_server_time")
    return shlex.join([sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"])


def test_mcp_servers_tools_join_the_agents_and_chat_lists_them():
    run = agentkit("chat", "--mcp", time_server_command(), "--tools", "agentkit._demo.weather:get_temperature_date",
                   input="/tools\n")  # fmt: skip
    assert run.returncode == 0, run.stderr
    names = [line.split(":")[0].strip() for line in run.stdout.splitlines()]
    assert names == ["get_temperature_date", "get_current_time", "convert_time"]


def test_run_against_a_server_calls_an_mcp_servers_tool():
    from tests.scripted_server import Reply, ScriptedServer, call, chunk

    convert = call("convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"})
    with ScriptedServer() as server:  # `run` streams: the replies are SSE chunks
        server.script(Reply(chunks=[chunk({"role": "assistant", "tool_calls": [convert]}, finish="tool_calls")]),
                      Reply(chunks=[chunk({"role": "assistant", "content": "21:00"}, finish="stop")]))  # fmt: skip
        run = agentkit("run", "--json", "--base-url", server.url, "--mcp", time_server_command(), "Noon UTC in Tokyo?")
        offered = {t["function"]["name"] for t in server.requests[0]["tools"]}
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert offered == {"get_current_time", "convert_time"}  # --mcp alone: no weather tools
    assert json.loads(data["messages"][2]["content"])["target"]["datetime"].endswith("T21:00:00+09:00")
    assert data["output"] == "21:00"


@pytest.mark.parametrize(
    ("command", "words"),
    [("no-such-mcp-server --flag", ["--mcp", "no program named 'no-such-mcp-server'"]), ("", ["--mcp", "no program"]),
     ("'unclosed", ["--mcp", "No closing quotation"])],
)  # fmt: skip
def test_a_bad_mcp_command_is_one_line_and_status_2(command, words):
    one_line_error(agentkit("run", "--mcp", command, "q"), *words)


def test_agent_with_mcp_is_refused():
    one_line_error(agentkit("run", "--agent", "tests.cli_agents:echo", "--mcp", "x", "q"), "--mcp")


def test_mcp_python_is_the_interpreter_agentkit_runs_on(tmp_path):
    pytest.importorskip("mcp_server_time")
    # Another `python` first on PATH (the system's, with no MCP server installed): not the one used.
    (tmp_path / "python").write_text("#!/bin/sh\necho 'the wrong python' >&2\nexit 3\n")
    (tmp_path / "python").chmod(0o755)
    run = subprocess.run([sys.executable, "-m", "agentkit", "chat", "--mcp", "python -m mcp_server_time --local-timezone UTC"],
                         input="/tools\n", capture_output=True, text=True, cwd=ROOT, timeout=240,
                         env={**env(), "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert [line.split(":")[0].strip() for line in run.stdout.splitlines()] == ["get_current_time", "convert_time"]
    assert "the wrong python" not in run.stderr


# --- started with SIGINT ignored (`nohup ... &`, common in CI) ---------------------------------

CTRL_C_TESTS = [
    "tests/test_cli.py::test_ctrl_c_stops_the_answer_not_the_chat",
    "tests/test_cli_pending.py::test_a_new_question_instead_of_an_answer_denies_the_waiting_call",
    "tests/test_cli_pending.py::test_ctrl_c_while_an_approved_call_runs_answers_it_may_have_run",
    "tests/test_cli_pending.py::test_ctrl_c_after_an_approved_call_keeps_its_result_without_a_session",
]


def ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_the_ctrl_c_tests_pass_when_pytest_was_started_with_sigint_ignored():
    """A shell starts a background job (`nohup pytest &`) with SIGINT ignored, and a child inherits
    that: the chats these tests start must get SIGINT back, or Ctrl-C never reaches them."""
    nested = subprocess.run([sys.executable, "-m", "pytest", *CTRL_C_TESTS, "-q", "-p", "no:cacheprovider"],
                            preexec_fn=ignore_sigint, capture_output=True, text=True, cwd=ROOT, env=env(),
                            timeout=280)  # fmt: skip
    assert nested.returncode == 0, nested.stdout[-3000:]
    assert f"{len(CTRL_C_TESTS)} passed" in nested.stdout, nested.stdout[-3000:]
