"""An MCP server's elicitation on ``agentkit web``'s page (agentkit/cli/_page_form.py): a ``form``
event in the run's stream, answered by ``POST /api/elicit``; a page that goes away or a form left
unanswered declines. The server is a real MCP server (tests/mcp_servers/asking_server.py)."""

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest

from agentkit.cli import _page_form
from tests import cli_agents
from tests.test_web import browser, call, serving  # noqa: F401 (browser: a fixture)

FORM = {"Content-Type": "application/json"}


@pytest.fixture
def asking():
    with serving(cli_agents.page_asking) as url:
        yield url


class Stream:
    """``POST /api/chat`` read event by event, as a page reads it."""

    def __init__(self, url, question):
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        self.connection.request("POST", "/api/chat", json.dumps({"question": question}), FORM)
        self.response = self.connection.getresponse()
        assert self.response.status == 200

    def next(self):
        name, data = None, ""
        while True:
            line = self.response.readline().decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if not line and name:
                return name, json.loads(data)
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]

    def until(self, wanted):
        while True:
            name, data = self.next()
            if name == wanted:
                return data


def answer(url, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return call(url + "/api/elicit", data, FORM)


def said(done):
    return json.loads(done["history"][-2]["content"])


def test_the_form_goes_to_the_page_and_its_answer_to_the_server(asking):
    stream = Stream(asking, "who am I?")
    form = stream.until("form")
    assert form["message"] == "Who are you?"
    assert set(form["schema"]["properties"]) == {"name", "age"}
    status, _, text = answer(asking, {"id": form["id"], "content": {"name": "Ada", "age": 41}})
    assert status == 200, text
    assert said(stream.until("done")) == {"action": "accept", "content": {"name": "Ada", "age": 41}}
    assert answer(asking, {"id": form["id"], "content": None})[0] == 404  # answered once


def test_null_declines(asking):
    stream = Stream(asking, "who am I?")
    form = stream.until("form")
    assert answer(asking, {"id": form["id"], "content": None})[0] == 200
    assert said(stream.until("done"))["action"] == "decline"


def test_an_answer_that_does_not_fit_the_schema_is_not_sent(asking):
    stream = Stream(asking, "who am I?")
    form = stream.until("form")
    assert answer(asking, {"id": form["id"], "content": {"name": 7}})[0] == 200
    result = stream.until("done")["history"][-2]["content"]
    assert "Ada" not in result and "accept" not in result


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"id": "nope", "content": None}, 404, "no such form"),
    ({"id": 1, "content": None}, 400, "id must be a string"),
    ({"id": "x", "content": [1]}, 400, "content must be an object"),
    ({"id": "x"}, 400, "the body must be"),
    (b"{", 400, "not JSON"),
])  # fmt: skip
def test_a_malformed_or_unknown_answer_is_refused(asking, body, status, words):
    got, _, text = answer(asking, body)
    assert got == status and words in json.loads(text)["error"], text


def test_an_answer_not_sent_as_json_or_from_another_origin_is_refused(asking):
    stream = Stream(asking, "who am I?")
    form = stream.until("form")
    body = json.dumps({"id": form["id"], "content": {"name": "Eve"}}).encode()
    assert call(asking + "/api/elicit", body, {"Content-Type": "text/plain"})[0] == 415
    assert call(asking + "/api/elicit", body, {**FORM, "Origin": "http://evil.example"})[0] == 403
    assert answer(asking, {"id": form["id"], "content": None})[0] == 200  # still waiting: the page's to answer
    assert said(stream.until("done"))["action"] == "decline"


def wait_until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true"
        time.sleep(0.05)


def test_a_page_that_goes_away_declines_its_form(asking):
    stream = Stream(asking, "who am I?")
    form = stream.until("form")
    assert form["id"] in _page_form._WAITING
    stream.connection.close()  # the page is closed
    wait_until(lambda: form["id"] not in _page_form._WAITING)
    assert answer(asking, {"id": form["id"], "content": {"name": "Ada"}})[0] == 404


def test_a_form_nobody_answers_is_declined(asking, monkeypatch):
    monkeypatch.setattr(_page_form, "FORM_TIMEOUT", 0.5)
    stream = Stream(asking, "who am I?")
    assert said(stream.until("done"))["action"] == "decline"


def test_the_page_shows_the_form_and_sends_what_the_person_filled_in(asking, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    page.goto(asking)
    page.fill("#question", "who am I?")
    page.press("#question", "Enter")
    page.wait_for_selector("form.elicit input[name=name]", timeout=120_000)
    assert page.text_content("form.elicit .message") == "Who are you?"
    assert page.input_value("form.elicit input[name=age]") == "30"  # the default
    page.fill("form.elicit input[name=name]", "<b>Ada</b>")
    page.fill("form.elicit input[name=age]", "41")
    page.get_by_role("button", name="Accept").click()
    page.wait_for_selector(".stats", timeout=120_000)
    assert page.text_content("form.elicit .status") == "answered"
    answer_text = page.text_content(".answer")
    assert json.loads(answer_text.removeprefix("tool said: ")) == {
        "action": "accept",
        "content": {"name": "<b>Ada</b>", "age": 41},
    }
    page.close()


def test_the_page_declines(asking, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    page.goto(asking)
    page.fill("#question", "who am I?")
    page.press("#question", "Enter")
    page.wait_for_selector("form.elicit", timeout=120_000)
    page.get_by_role("button", name="Decline").click()
    page.wait_for_selector(".stats", timeout=120_000)
    assert page.text_content("form.elicit .status") == "declined"
    assert '"decline"' in page.text_content(".answer")
    page.close()


def test_every_kind_of_field_and_a_message_that_is_html_shown_as_text(browser):  # noqa: F811
    from tests.mcp_servers.form_server import MESSAGE

    with serving(cli_agents.page_ordering) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto(url)
        page.fill("#question", "order")
        page.press("#question", "Enter")
        page.wait_for_selector("form.elicit select[name=colour]", timeout=120_000)
        assert page.text_content("form.elicit .message") == MESSAGE  # the tags as text
        assert page.locator("form.elicit img, form.elicit .message b").count() == 0
        assert page.evaluate("window.pwned") is None
        assert page.input_value("form.elicit input[name=weight]") == "1.5"
        page.select_option("form.elicit select[name=colour]", label="green")
        page.fill("form.elicit input[name=count]", "3")
        page.check("form.elicit input[name=gift]")
        page.fill("form.elicit input[name=weight]", "2.25")
        page.get_by_role("button", name="Accept").click()
        page.wait_for_selector(".stats", timeout=120_000)
        got = json.loads(page.text_content(".answer").removeprefix("tool said: "))
        assert got == {"action": "accept", "content": {"colour": "green", "count": 3, "gift": True, "weight": 2.25}}
        page.close()
