"""The demo model's scorer (tools/eval_demo_model.py), fed model text written here: it must
fail a wrong call, a missing place, an invented date, a reply that should have been a question,
and pass a right one whatever the order of the calls or an alternative spelling."""

import json

import pytest

pytest.importorskip("transformers")

from tools.eval_demo_model import Run, generator_cases, independent_cases, table


def call(name: str, **args) -> str:
    body = json.dumps({"name": name, "parameters": args})
    return f"<|action_start|><|plugin|>\n{body}<|action_end|>"


def play(case: dict, *texts: str, thinking: bool = False) -> bool | None:
    run = Run(case, thinking)
    for text in texts:
        assert run.ok is None
        run.step(text)
    return run.ok


TWO = {"id": "t", "kinds": ["2-3 places"], "turns": [{"user": "Lagos or Accra now?",
       "calls": [["get_current_temperature", {"location": "Lagos"}], ["get_current_temperature", {"location": ["Accra", "Accra, Ghana"]}]]}]}  # fmt: skip


def test_two_calls_in_either_order_and_an_answer_quoting_both_pass():
    run = Run(TWO, False)
    run.step(
        call("get_current_temperature", location="Accra, Ghana") + call("get_current_temperature", location="Lagos")
    )
    a, b = run.temps
    run.step(f"Accra, Ghana: {a} °C. Lagos: {b} °C.")
    assert run.ok is True


@pytest.mark.parametrize(
    "first",
    [
        call("get_current_temperature", location="Lagos"),  # a place dropped
        call("get_current_temperature", location="Lagos Accra"),  # places merged
        call("get_current_temperature", location="Lagos")
        + call("get_current_temperature", location="Accra", unit="fahrenheit"),
        call("get_temperature_date", location="Lagos", date="2025-01-01")
        + call("get_current_temperature", location="Accra"),
        "Which city?",
    ],
)
def test_wrong_calls_fail(first):
    assert play(TWO, first) is False


def test_an_answer_without_every_number_or_place_fails():
    run = Run(TWO, False)
    run.step(call("get_current_temperature", location="Lagos") + call("get_current_temperature", location="Accra"))
    run.step(f"Lagos: {run.temps[0]} °C.")
    assert run.ok is False
    run = Run(TWO, False)
    run.step(call("get_current_temperature", location="Lagos") + call("get_current_temperature", location="Accra"))
    run.step(f"Lagos: {run.temps[0]} °C, and {run.temps[1]} °C.")  # the second place not named
    assert run.ok is False


def test_an_extra_argument_fails():
    extra = call("get_current_temperature", location="Lagos", date="2025-01-01")
    assert play(TWO, extra + call("get_current_temperature", location="Accra")) is False


def test_a_missing_unit_is_celsius_and_a_named_one_must_match():
    case = {
        "id": "u",
        "kinds": [],
        "turns": [{"user": "x", "calls": [["get_current_temperature", {"location": "Oslo"}]]}],
    }
    run = Run(case, False)
    run.step(call("get_current_temperature", location="Oslo", unit="celsius"))
    assert run.ok is None and run.waiting_answer
    case_f = {
        "id": "f",
        "kinds": [],
        "turns": [{"user": "x", "calls": [["get_current_temperature", {"location": "Oslo", "unit": "fahrenheit"}]]}],
    }
    assert play(case_f, call("get_current_temperature", location="Oslo")) is False


def test_asking_back_must_be_a_question_without_a_call_then_the_next_turn_runs():
    case = {"id": "a", "kinds": [], "turns": [{"user": "Oslo tomorrow?", "reply": "ask"},
            {"user": "2024-02-28", "calls": [["get_temperature_date", {"location": "Oslo", "date": "2024-02-29"}]]}]}  # fmt: skip
    assert play(case, call("get_temperature_date", location="Oslo", date="2022-02-31")) is False  # an invented date
    assert play(case, "The temperature in Oslo is 3 °C.") is False
    assert (
        play(case, "What is today's date?", call("get_temperature_date", location="Oslo", date="2024-03-01")) is False
    )
    run = Run(case, False)
    run.step("What is today's date?")
    run.step(call("get_temperature_date", location="Oslo", date="2024-02-29"))
    run.step(f"On 2024-02-29 it will be {run.temps[0]} °C in Oslo.")
    assert run.ok is True and [m["role"] for m in run.messages][-6:] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]


def test_thinking_runs_are_parsed_after_the_opened_think_block():
    run = Run(TWO, True)
    run.step(
        "Two places.\n</think>\n\n"
        + call("get_current_temperature", location="Lagos")
        + call("get_current_temperature", location="Accra")
    )
    run.step("thinking done\n</think>\n\n" + " ".join(str(t) for t in run.temps) + " Lagos Accra")
    assert run.ok is True


def test_tables_count_thinking_off_and_on_per_kind():
    a, b = Run(TWO, False), Run(TWO, True)
    a.ok, b.ok = True, False
    assert table([a, b]) == {"all": {"off": [1, 1], "on": [0, 1]}, "2-3 places": {"off": [1, 1], "on": [0, 1]}}


def test_both_sets_load():
    gen, ind = generator_cases(40), independent_cases()
    assert len(gen) == 40 and len(ind) >= 100
    assert all(t.get("calls") or t.get("reply") for c in gen + ind for t in c["turns"])
