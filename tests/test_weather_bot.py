"""The README's main job: the weather bot on the built-in demo model, through the real loop.

These run the real demo model (about 100 ms a turn): each documented option and each kind of
question the demo model is trained for (see tools/build_demo_model.py) is run once.
"""

import json
import re
import socket

import pytest

pytest.importorskip("transformers")

from examples import weather_bot


def calls(out: str) -> list[tuple[str, dict]]:
    """The tool calls the bot printed, in order."""
    return [(name, json.loads(args)) for name, args in re.findall(r"-> (\w+)\((\{.*?\})\)", out)]


def test_weather_bot_runs_offline_through_the_loop(capsys):
    answer = weather_bot.main([])
    out = capsys.readouterr().out
    assert '-> get_current_temperature({"location": "San Francisco"})' in out
    assert '<- get_current_temperature: {"temperature": 26.1' in out
    assert "26.1" in answer and "San Francisco" in answer


def test_weather_bot_takes_a_question(capsys):
    answer = weather_bot.main(["What's the temperature in Oslo now?"])
    out = capsys.readouterr().out
    assert '-> get_current_temperature({"location": "Oslo"})' in out
    assert "26.1" in answer


def test_thinking_run_thinks_briefly_and_gets_the_right_numbers(capsys):
    answer = weather_bot.main(["--thinking"])
    out = capsys.readouterr().out
    assert "thinking: " in out  # the reasoning was streamed as reasoning, not as the answer
    assert calls(out) == [
        ("get_current_temperature", {"location": "San Francisco"}),
        ("get_temperature_date", {"location": "San Francisco", "date": "2024-11-15"}),
    ]
    assert "26.1" in answer and "25.9" in answer and "<think>" not in answer and "</think>" not in answer
    assert "[2 model calls" in out


def test_no_thinking_option_still_answers(capsys):
    answer = weather_bot.main(["--no-thinking"])
    out = capsys.readouterr().out
    assert "thinking: " not in out
    assert "26.1" in answer and "25.9" in answer


def test_off_topic_question_is_refused_without_a_tool_call(capsys):
    answer = weather_bot.main(["Who wrote Hamlet?"])
    out = capsys.readouterr().out
    assert calls(out) == [] and "->" not in out
    assert "only" in answer and "temperature" in answer
    assert "[1 model calls" in out


def test_question_without_a_place_asks_for_one_instead_of_inventing_it(capsys):
    answer = weather_bot.main(["What's the temperature now?"])
    out = capsys.readouterr().out
    assert calls(out) == []
    assert "city" in answer.lower() and answer.rstrip().endswith("?")


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_refused_before_the_model_runs(capsys, question):
    with pytest.raises(SystemExit) as exc:
        weather_bot.main([question])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert "question is empty" in captured.err and "user:" not in captured.out


def test_tomorrow_at_the_end_of_february_is_the_first_of_march(capsys):
    weather_bot.main(["Today is 2025-02-28. What's the temperature in Oslo tomorrow?"])
    out = capsys.readouterr().out
    assert calls(out) == [("get_temperature_date", {"location": "Oslo", "date": "2025-03-01"})]


@pytest.mark.xfail(
    strict=True,
    reason="the demo model writes 2024-03-01: its trace says February 2024 has 29 days, then calls day 28 "
    "the last ('tomorrow' at a month end is right in all 52 held-out cases, agentkit/_demo/eval.json, but the "
    "day before a leap day is rare there); remove this mark when a retrained model passes",
)
def test_tomorrow_in_a_leap_february_is_the_29th(capsys):
    weather_bot.main(["Today is 2024-02-28. What's the temperature in Oslo tomorrow?"])
    out = capsys.readouterr().out
    assert calls(out) == [("get_temperature_date", {"location": "Oslo", "date": "2024-02-29"})]


def test_a_failing_run_prints_one_line_and_no_traceback(capsys):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SystemExit) as exc:
        weather_bot.main(["--base-url", f"http://127.0.0.1:{port}/v1"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("weather_bot: ModelError: "), err
    assert "Traceback" not in err


# Issue 29: ordinary variations of the guide's question, as a newcomer asks them. The committed
# model fails them (as measured: the reasons); tools/_weather_dialogs.py generates them for
# training; remove a mark when a retrained model passes (strict: a pass fails the run).
ISSUE29 = "the committed demo model was trained before tools/_weather_dialogs.py existed: "


@pytest.mark.xfail(strict=True, reason=ISSUE29 + "it calls without the unit and answers in °C")
def test_the_unit_asked_for_is_passed(capsys):
    weather_bot.main(["What's the temperature in Chicago now, in Fahrenheit?"])
    assert calls(capsys.readouterr().out) == [
        ("get_current_temperature", {"location": "Chicago", "unit": "fahrenheit"})
    ]


@pytest.mark.xfail(strict=True, reason=ISSUE29 + 'one call for the place "Me The Lagos Accr"')
def test_two_places_get_one_call_each_in_one_message(capsys):
    answer = weather_bot.main(["Compare the current temperatures of Lagos and Accra."])
    out = capsys.readouterr().out
    assert sorted(calls(out), key=str) == [
        ("get_current_temperature", {"location": "Accra"}),
        ("get_current_temperature", {"location": "Lagos"}),
    ]
    assert "[2 model calls" in out and "Lagos" in answer and "Accra" in answer


@pytest.mark.xfail(strict=True, reason=ISSUE29 + "it calls for 2025-04-30, today, not tomorrow")
def test_tomorrow_with_the_date_after_the_question(capsys):
    weather_bot.main(["What's the temperature in Kyoto tomorrow? Today is 2025-04-30."])
    assert calls(capsys.readouterr().out) == [("get_temperature_date", {"location": "Kyoto", "date": "2025-05-01"})]


@pytest.mark.xfail(strict=True, reason=ISSUE29 + "it makes a now call instead of asking")
def test_tomorrow_without_a_date_asks_which_day_it_is(capsys):
    answer = weather_bot.main(["What's the temperature in New York tomorrow?"])
    assert calls(capsys.readouterr().out) == [] and answer.rstrip().endswith("?") and "date" in answer


@pytest.mark.xfail(strict=True, reason=ISSUE29 + "it refuses the question")
def test_a_place_with_its_country(capsys):
    weather_bot.main(["Temperature in Reykjavik, Iceland?"])
    got = calls(capsys.readouterr().out)
    assert [name for name, _ in got] == ["get_current_temperature"]
    assert got[0][1]["location"] in ("Reykjavik, Iceland", "Reykjavik")


@pytest.mark.xfail(strict=True, reason=ISSUE29 + "it refuses the question")
def test_a_question_in_german(capsys):
    answer = weather_bot.main(["Wie warm ist es gerade in München?"])
    assert calls(capsys.readouterr().out) == [("get_current_temperature", {"location": "München"})]
    assert "26.1" in answer


@pytest.mark.xfail(strict=True, reason=ISSUE29 + '"And in Darwin?" is refused')
def test_follow_ups_reuse_the_place_and_the_day():
    from agentkit import Agent, LocalModel
    from agentkit._demo.weather import SYSTEM, TOOLS

    agent = Agent(LocalModel.demo(), TOOLS, system=SYSTEM, max_turns=6)

    def ask(history, question):
        result = agent.run_sync([*history, {"role": "user", "content": question}])
        new = result.messages[len(history) :]
        made = [(c["function"]["name"], json.loads(c["function"]["arguments"]))
                for m in new for c in m.get("tool_calls") or []]  # fmt: skip
        return result.messages, made

    history, made = ask([], "Today is 2025-06-10. How warm is it in Perth right now?")
    assert made == [("get_current_temperature", {"location": "Perth"})]
    history, made = ask(history, "And in Darwin?")
    assert made == [("get_current_temperature", {"location": "Darwin"})]
    _, made = ask(history, "And tomorrow?")
    assert made == [("get_temperature_date", {"location": "Darwin", "date": "2025-06-11"})]
