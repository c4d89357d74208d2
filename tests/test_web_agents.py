"""``agentkit web`` with agents that use agents (issue 24): a sub-run's events as ``sub_agent``
events under the caller's call, a handoff as a ``handoff`` event, and the page that folds a
sub-agent's work under its tool card.

These fail before the page knew of issue 24's events: a sub-run's events and handoffs were not sent.
"""

import json

import pytest

from tests import cli_agents, team_agents, test_web
from tests.test_web import events, post, serving, valid

browser = test_web.browser  # the chromium fixture (skips without /usr/bin/chromium)

QUESTION = "How warm is Oslo?"
TEMPERATURE = '{"temperature": 26.1, "location": "Oslo", "unit": "celsius"}'


def asked(agent, question=QUESTION):
    with serving(agent) as url:
        status, _, body = post(url, {"question": question, "thinking": True})
    assert status == 200, body
    return events(body)


def inner(got, call_id):
    """The (name, data) pairs of the sub-run of the call `call_id`, unwrapped one level."""
    return [(d["event"], d["data"]) for n, d in got if n == "sub_agent" and d["call"] == call_id]


def test_a_sub_runs_events_come_wrapped_under_the_callers_call_and_nest():
    got = asked(team_agents.delegating)
    names = [n for n, _ in got]
    [(_, call)] = [(n, d) for n, d in got if n == "tool_call"]  # the caller's only call: the sub-run's are inside
    [(_, result)] = [(n, d) for n, d in got if n == "tool_result"]
    assert call["name"] == result["name"] == "planner" and result["content"] == "Forecast: mild."
    wrapped = [i for i, (n, _) in enumerate(got) if n == "sub_agent"]
    assert wrapped and names.index("tool_call") < min(wrapped) and max(wrapped) < names.index("tool_result")
    assert {(d["call"], d["agent"]) for n, d in got if n == "sub_agent"} == {(call["id"], "planner")}
    planner = inner(got, call["id"])
    assert {n for n, _ in planner} == {"tool_call", "sub_agent", "tool_result", "turn", "text", "done"}
    [forecast_call] = [d for n, d in planner if n == "tool_call"]
    assert forecast_call["name"] == "forecast" and json.loads(forecast_call["arguments"]) == {"input": "Oslo?"}
    assert [d for n, d in planner if n == "tool_result"] == [
        {"id": forecast_call["id"], "name": "forecast", "content": "It is 26.1 °C in Oslo.\nDry.", "error": None}
    ]
    assert "".join(d["text"] for n, d in planner if n == "text") == "Forecast: mild."
    assert [d for n, d in planner if n == "turn"] == [{"turn": 0}, {"turn": 1}]
    assert planner[-1][0] == "done" and planner[-1][1]["agent"] == "planner" and planner[-1][1]["turns"] == 2
    assert planner[-1][1]["usage"]["total_tokens"] > 0
    forecast = [(d["event"], d["data"]) for n, d in planner if n == "sub_agent"]
    assert {n for n, _ in forecast} == {"reasoning", "tool_call", "tool_result", "turn", "text", "done"}
    assert {(d["call"], d["agent"]) for n, d in planner if n == "sub_agent"} == {(forecast_call["id"], "forecast")}
    assert [(n, d.get("name")) for n, d in forecast if n in ("tool_call", "tool_result")] == [
        ("tool_call", "get_current_temperature"), ("tool_result", "get_current_temperature"),
    ]  # fmt: skip
    assert next(d["content"] for n, d in forecast if n == "tool_result") == TEMPERATURE
    assert "".join(d["text"] for n, d in forecast if n == "reasoning") == "I need the temperature.I have it."
    assert "".join(d["text"] for n, d in forecast if n == "text") == "It is 26.1 °C in Oslo.\nDry."
    assert got[-1][0] == "done" and got[-1][1]["agent"] == "main" and got[-1][1]["output"] == "Mild in Oslo."


def test_a_sub_runs_calls_and_turns_are_not_the_callers_in_the_history_kept():
    got = asked(team_agents.delegating)
    assert [d for n, d in got if n == "turn"] == [{"turn": 0}, {"turn": 1}]  # the caller's turns only
    histories = [d["history"] for n, d in got if n == "history"]
    assert histories and all(valid(h) for h in histories)
    for history in histories:  # each a transcript of the caller: the sub-runs' messages are not in it
        called = [c["function"]["name"] for m in history for c in m.get("tool_calls") or ()]
        assert called == ["planner"] and all(m.get("name") in (None, "planner") for m in history)
    assert [m["role"] for m in got[-1][1]["history"]] == ["user", "assistant", "tool", "assistant"]


def test_a_handoff_is_an_event_and_done_names_the_agent_that_answered():
    got = asked(team_agents.router)
    names = [n for n, _ in got]
    assert [d for n, d in got if n == "handoff"] == [{"source": "router", "target": "forecast"}]
    assert names.index("tool_result") < names.index("handoff") < names.index("reasoning")
    done = got[-1][1]
    assert done["agent"] == "forecast" and done["output"] == "It is 26.1 °C in Oslo.\nDry."
    assert valid(done["history"])


def test_a_handoff_inside_a_sub_run_is_its_event():
    got = asked(team_agents.asks_handing_desk)
    assert "handoff" not in [n for n, _ in got]
    [call_id] = {d["call"] for n, d in got if n == "sub_agent"}
    desk = inner(got, call_id)
    assert [d for n, d in desk if n == "handoff"] == [{"source": "desk", "target": "forecast"}]
    assert desk[-1] == ("done", {**desk[-1][1], "agent": "forecast"})


# --- the page ----------------------------------------------------------------------------


def ask(browser, url, question=QUESTION):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(url)
    page.fill("#question", question)
    page.press("#question", "Enter")
    page.wait_for_selector(".stats", timeout=120_000)
    return page


def test_the_page_folds_a_sub_agents_work_under_its_tool_card_and_shows_a_handoff(browser):
    with serving(team_agents.team) as url:
        page = ask(browser, url)
        turn = page.locator(".turn")
        cards = turn.locator(":scope > .tool")
        assert [cards.nth(i).locator(":scope > .head .name").text_content() for i in range(cards.count())] == [
            "planner", "transfer_to_forecast", "get_current_temperature",
        ]  # fmt: skip
        planner = cards.first
        assert planner.locator(":scope > .head .status").text_content() == "done"
        fold = planner.locator(":scope > details.subagent")
        assert fold.count() == 1 and fold.get_attribute("open") is None  # folded
        assert fold.locator(":scope > summary").text_content().startswith("planner · 2 model calls · ")
        assert page.locator("details.subagent.running").count() == 0  # all done: no "…" left
        forecast = fold.locator(":scope > .work > .tool")
        assert forecast.count() == 1 and forecast.locator(":scope > .head .name").text_content() == "forecast"
        assert not forecast.is_visible()
        fold.locator(":scope > summary").click()
        assert forecast.is_visible()
        assert forecast.locator(":scope > .row code").nth(1).text_content() == "It is 26.1 °C in Oslo.\nDry."
        assert fold.locator(":scope > .work > .answer").text_content() == "Forecast: mild."
        deeper = forecast.locator(":scope > details.subagent")  # forecast's own work, folded in its card
        deeper.locator(":scope > summary").click()
        looked_up = deeper.locator(":scope > .work > .tool")
        assert looked_up.locator(".name").text_content() == "get_current_temperature"
        assert "26.1" in looked_up.locator(".row code").nth(1).text_content()
        assert deeper.locator(":scope > .work > .answer").text_content() == "It is 26.1 °C in Oslo.\nDry."
        # The caller's own: the handoff line, the answer of the agent it handed to, who answered.
        assert turn.locator(":scope > .handoff").text_content() == "team → forecast"
        assert turn.locator(":scope > .answer").last.text_content() == "It is 26.1 °C in Oslo.\nDry."
        assert turn.locator(":scope > .stats").text_content().endswith("· answered by forecast")
        transcript = page.evaluate("transcript")
        assert valid(transcript)
        assert [m["name"] for m in transcript if m["role"] == "tool"] == [
            "planner", "transfer_to_forecast", "get_current_temperature",
        ]  # fmt: skip
        page.close()


def test_markup_and_controls_from_a_sub_run_are_shown_as_text_on_the_page(browser):
    hostile = f"{team_agents.PAGE_HOSTILE} {cli_agents.HOSTILE}"
    with serving(team_agents.spying) as url:
        page = ask(browser, url, "q")
        fold = page.locator(".turn > .tool details.subagent").first
        fold.locator(":scope > summary").click()
        card = fold.locator(":scope > .work > .tool")
        codes = card.locator(".row code")
        assert json.loads(codes.nth(0).text_content()) == {"note": hostile}
        assert codes.nth(1).text_content() == hostile
        assert fold.locator(":scope > .work > .answer").text_content() == f"mole says {hostile}"
        reasoning = fold.locator(":scope > .work > details.reasoning")
        reasoning.locator("summary").click()
        assert reasoning.locator(".text").text_content() == f"plotting {cli_agents.HOSTILE}"
        assert page.locator("img").count() == 0 and page.locator("main b").count() == 0  # never parsed
        assert page.evaluate("window.pwned") is None
        assert page.locator(".turn > .handoff").text_content() == "spymaster → forecast"
        page.close()


def test_a_sub_runs_call_waiting_for_approval_is_decided_on_the_page_api_and_runs_once():
    cli_agents.PAID.clear()
    with serving(team_agents.boss) as url:
        first = events(post(url, {"question": "pay 5"})[2])
        done = first[-1][1]
        [waiting] = done["pending"]
        assert waiting["function"]["name"] == "pay" and cli_agents.PAID == []
        got = events(post(url, {"history": done["history"], "approvals": {waiting["id"]: True}})[2])
    assert got[-1][0] == "done", got[-1]
    assert cli_agents.PAID == [5] and got[-1][1]["output"] == "boss heard: tool said: paid 5"
    desk = [d for n, d in got if n == "sub_agent"]
    assert [d["data"]["name"] for d in desk if d["event"] == "tool_result"] == ["pay"]
    assert valid(got[-1][1]["history"])


@pytest.mark.parametrize("record", [{"messages": ["junk"]}, {"messages": [{"role": "assistant", "tool_calls": [7]}]}])
def test_approvals_with_a_malformed_sub_run_record_get_400(record):
    call = {"id": "c1", "type": "function", "function": {"name": "desk", "arguments": "{}"}}
    last = {"role": "assistant", "content": "", "tool_calls": [call], "agentkit_pending": ["c1"],
            "agentkit_subruns": {"c1": record}}  # fmt: skip
    with serving(team_agents.boss) as url:
        status, _, text = post(url, {"history": [{"role": "user", "content": "pay 5"}, last], "approvals": {"x": True}})
    assert status == 400 and "not waiting" in json.loads(text)["error"], text


def test_the_page_asks_about_a_sub_agents_call_and_resumes_it_once(browser):
    cli_agents.PAID.clear()
    with serving(team_agents.boss) as url:
        page = ask(browser, url, "pay 5")
        page.wait_for_selector(".tool.waiting .actions button", timeout=120_000)
        desk = page.locator(".turn > .tool").first
        assert desk.locator(":scope > .head .name").text_content() == "desk"
        assert desk.locator(":scope > .head .status").text_content() == "waiting for approval"
        waiting = page.locator(".tool.waiting")
        assert waiting.locator(".name").text_content() == "pay" and cli_agents.PAID == []
        waiting.get_by_role("button", name="Approve").click()
        page.wait_for_function("document.querySelectorAll('.turn > .stats').length == 2", timeout=120_000)
        assert cli_agents.PAID == [5]
        assert page.locator(".turn > .answer").last.text_content() == "boss heard: tool said: paid 5"
        assert desk.locator(":scope > .head .status").text_content() == "done"
        ran = desk.locator(":scope > details.subagent > .work > .tool")
        assert ran.count() == 1 and ran.locator(".row code").nth(1).text_content() == "paid 5"
        assert valid(page.evaluate("transcript"))
        page.close()


def test_stop_while_a_sub_agent_answers_says_its_call_may_have_partly_run(browser):
    with serving(team_agents.waiting_boss) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url)
        page.fill("#question", "q")
        page.press("#question", "Enter")
        page.wait_for_selector(".turn > .tool details.subagent.running .answer", state="attached", timeout=120_000)
        page.click("#send")  # Stop
        page.wait_for_selector(".turn > .error", timeout=120_000)
        card = page.locator(".turn > .tool")
        assert card.locator(":scope > .head .status").text_content() == "stopped: may have partly run"
        assert page.locator("details.subagent.running").count() == 0  # its work no longer shown as going on
        said = card.locator(".work > .answer").text_content()  # as much as had come
        assert said and ("a very long answer " * 100).startswith(said)
        page.close()


def test_a_handoff_inside_a_sub_run_is_a_line_in_its_fold(browser):
    with serving(team_agents.asks_handing_desk) as url:
        page = ask(browser, url)
        fold = page.locator(".turn > .tool > details.subagent")
        assert fold.locator(":scope > summary").text_content().endswith(" · answered by forecast")
        fold.locator(":scope > summary").click()
        assert fold.locator(":scope > .work > .handoff").text_content() == "desk → forecast"
        assert page.locator(".turn > .handoff").count() == 0  # the caller's run was not handed off
        assert not page.locator(".turn > .stats").text_content().endswith("answered by forecast")
        page.close()


def test_a_new_question_instead_of_deciding_on_a_sub_agents_call_answers_its_caller_not_run(browser):
    cli_agents.PAID.clear()
    with serving(team_agents.boss) as url:
        page = ask(browser, url, "pay 5")
        page.wait_for_selector(".tool.waiting .actions button", timeout=120_000)
        page.fill("#question", "hello")
        page.press("#question", "Enter")
        page.wait_for_function("document.querySelectorAll('.turn > .stats').length == 2", timeout=120_000)
        first = page.locator(".turn").first.locator(":scope > .tool")
        assert [first.nth(i).locator(":scope > .head .status").text_content() for i in range(first.count())] == [
            "not run: you asked something else", "not run: you asked something else",
        ]  # fmt: skip
        assert cli_agents.PAID == [] and valid(page.evaluate("transcript"))
        page.close()
