"""How `EventPrinter` (agentkit/cli/_render.py) shows agents that use agents: a sub-run's work
indented under the tool call that runs it, a handoff as a line, the agent that answered.

These fail before the terminal knew of issue 24's events: a sub-run's events were not shown at
all, nor a handoff, and ``--json`` had no ``agent``.
"""

import io
import json
import re

from agentkit import Handoff, RunFinished, RunResult, SubAgentEvent, TextDelta, ToolCall, ToolCallStarted
from agentkit.cli import EventPrinter
from tests.test_cli import agentkit
from tests.test_cli_visible import CONTROLS

TEMPERATURE = '{"temperature": 26.1, "location": "Oslo", "unit": "celsius"}'


def test_a_sub_runs_work_is_indented_under_its_call_and_a_nested_one_further():
    run = agentkit("run", "--agent", "tests.team_agents:delegating", "How warm is Oslo?")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:-1] == [
        "user: How warm is Oslo?",
        "",
        "thinking: Ask the planner.",
        '  -> planner({"input": "Oslo?"})',
        '    planner -> forecast({"input": "Oslo?"})',
        "      forecast thinking: I need the temperature.",
        '      forecast -> get_current_temperature({"location": "Oslo"})',
        f"      forecast <- get_current_temperature: {TEMPERATURE}",
        "      forecast thinking: I have it.",
        "      forecast: It is 26.1 °C in Oslo.",
        "        Dry.",  # a sub-run's next line keeps its indent
        "    planner <- forecast: It is 26.1 °C in Oslo.",
        "      Dry.",
        "    planner: Forecast: mild.",
        "  <- planner: Forecast: mild.",
        "assistant: Mild in Oslo.",
        "",
    ]
    assert re.fullmatch(r"\[2 model calls, \d+ tokens\]", lines[-1])  # the first agent answered: not named


def test_a_handoff_is_a_line_and_the_last_line_names_the_agent_that_answered():
    run = agentkit("run", "--agent", "tests.team_agents:router", "How warm is Oslo?")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:-1] == [
        "user: How warm is Oslo?",
        "",
        "  -> transfer_to_forecast({})",
        "  <- transfer_to_forecast: Transferred to forecast: it goes on from here.",
        "[router → forecast]",
        "thinking: I need the temperature.",
        '  -> get_current_temperature({"location": "Oslo"})',
        f"  <- get_current_temperature: {TEMPERATURE}",
        "thinking: I have it.",
        "assistant: It is 26.1 °C in Oslo.",
        "Dry.",
        "",
    ]
    assert re.fullmatch(r"\[3 model calls, \d+ tokens, answered by forecast\]", lines[-1])


def test_json_names_the_agent_that_answered():
    data = json.loads(agentkit("run", "--json", "--agent", "tests.team_agents:router", "How warm is Oslo?").stdout)
    assert data["agent"] == "forecast" and data["output"] == "It is 26.1 °C in Oslo.\nDry."
    plain = json.loads(agentkit("run", "--json", "--agent", "tests.cli_agents:weather", "How warm is Oslo?").stdout)
    assert plain["agent"] == "agent"


def test_a_sub_runs_control_characters_and_markup_are_shown_as_text():
    from tests.team_agents import PAGE_HOSTILE

    run = agentkit("run", "--agent", "tests.team_agents:spying", "q")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert not CONTROLS.search(out), repr(CONTROLS.findall(out))
    shown = "\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07\\x1b[1A\\x9b31m\\x0d\\u202eevil"
    assert f"    mole thinking: plotting {shown}" in out
    assert f"    mole <- leak_markup: {PAGE_HOSTILE} {shown}" in out
    assert f"    mole: mole says {PAGE_HOSTILE} {shown}" in out
    assert f"  <- mole: mole says {PAGE_HOSTILE} {shown}" in out
    assert "[spymaster → forecast]" in out


def test_hostile_agent_names_in_events_are_shown_as_text():
    # Names come from agents the user wrote, but a stream may be built by hand: nothing is acted on.
    call = ToolCall(id="c1", name="ask", arguments="{}")
    out = io.StringIO()
    printer = EventPrinter(out, color=False)
    printer.event(SubAgentEvent(agent="a\x1b[2J", call=call, event=TextDelta("hi\x1b]52")))
    printer.event(Handoff(source="x\x1b[1A", target="y\r"))
    assert not CONTROLS.search(out.getvalue()) and "a\\x1b[2J: hi\\x1b]52" in out.getvalue()
    assert "[x\\x1b[1A → y\\x0d]" in out.getvalue()


def test_interleaved_sub_runs_each_start_a_line_of_their_own():
    one, two = ToolCall(id="1", name="a", arguments="{}"), ToolCall(id="2", name="b", arguments="{}")
    out = io.StringIO()
    printer = EventPrinter(out, color=False)
    for event in (ToolCallStarted(call=one), ToolCallStarted(call=two)):
        printer.event(event)
    for call, agent, text in [(one, "a", "al"), (two, "b", "be"), (one, "a", "pha"), (two, "b", "ta")]:
        printer.event(SubAgentEvent(agent=agent, call=call, event=TextDelta(text)))
    assert out.getvalue().splitlines()[3:] == ["    a: al", "    b: be", "    a: pha", "    b: ta"]


def test_colours_mark_a_sub_runs_lines_only_when_asked():
    call = ToolCall(id="c1", name="ask", arguments="{}")
    inner = ToolCall(id="c2", name="f", arguments="{}")
    for color, expected in [
        (True, "\033[0m\n    \033[36mask -> f({})\033[0m\033[0m\n    \033[1mask:\033[0m ok"),
        (False, "\n    ask -> f({})\n    ask: ok"),
    ]:
        out = io.StringIO()
        printer = EventPrinter(out, color=color)
        printer.event(SubAgentEvent(agent="ask", call=call, event=ToolCallStarted(call=inner)))
        printer.event(SubAgentEvent(agent="ask", call=call, event=TextDelta("ok")))
        assert out.getvalue() == expected


def test_the_answering_agent_is_named_only_when_it_is_not_the_first():
    out = io.StringIO()
    printer = EventPrinter(out, color=False)
    result = RunResult(output="x", reasoning=None, messages=[], turns=1, agent="b")
    printer.event(RunFinished(result=result))  # no handoff seen and no first agent known: not named
    printer.event(Handoff(source="a", target="b"))
    printer.event(RunFinished(result=result))
    printer.event(RunFinished(result=result))  # a new run: its first agent is not known
    assert out.getvalue().count("answered by b") == 1


def test_a_sub_runs_text_goes_on_one_line_across_the_parsers_other_events():
    from agentkit import ToolCallArgsDelta, ToolCallOpened

    call = ToolCall(id="c1", name="ask", arguments="{}")
    out = io.StringIO()
    printer = EventPrinter(out, color=False)
    for inner in (TextDelta("a"), ToolCallOpened(index=0, id="x", name="f"), ToolCallArgsDelta(index=0, text="{"),
                  TextDelta("b")):  # fmt: skip
        printer.event(SubAgentEvent(agent="s", call=call, event=inner))
    assert out.getvalue() == "\n    s: ab"


def test_a_sub_runs_failed_call_long_result_and_handoff():
    from agentkit import ReasoningDelta, ToolCallFinished, TurnFinished
    from agentkit._model import Completion

    call, inner = ToolCall(id="c1", name="ask", arguments="{}"), ToolCall(id="c2", name="f", arguments="{}")
    out = io.StringIO()
    printer = EventPrinter(out, color=False, max_result=5)
    for event in (
        ToolCallFinished(call=inner, content="Error: it broke", error="ValueError: it\nbroke"),
        ToolCallFinished(call=inner, content="0123456789"),
        ReasoningDelta("hm"),
        TurnFinished(turn=0, completion=Completion(content="")),
        ReasoningDelta("again"),
        Handoff(source="s", target="t"),
        TextDelta("done"),
    ):
        printer.event(SubAgentEvent(agent="s", call=call, event=event))
    assert out.getvalue().splitlines()[1:] == [
        "    s <- f failed: ValueError: it",
        "      broke",
        "    s <- f: 01234… (5 more characters)",
        "    s thinking: hm",
        "    s thinking: again",  # a new turn of the sub-run: a line of its own
        "    [s → t]",
        "    s: done",
    ]


def test_a_handoff_back_to_the_first_agent_is_not_named_at_the_end():
    out = io.StringIO()
    printer = EventPrinter(out, color=False)
    for source, target in [("a", "b"), ("b", "a")]:
        printer.event(Handoff(source=source, target=target))
    printer.event(RunFinished(result=RunResult(output="x", reasoning=None, messages=[], turns=1, agent="a")))
    assert "answered by" not in out.getvalue()


def test_a_conversation_that_goes_on_with_the_agent_handed_to_names_it_without_a_new_handoff():
    import anyio

    from tests import team_agents

    out = io.StringIO()
    printer = EventPrinter(out, color=False)
    first = anyio.run(printer.run, team_agents.router, "How warm is Oslo?")
    again = [*first.messages, {"role": "user", "content": "And now?"}]
    second = anyio.run(printer.run, team_agents.router, again)
    assert second.agent == "forecast" and out.getvalue().count("[router → forecast]") == 1
    assert out.getvalue().count(", answered by forecast]") == 2
