"""``agentkit web``: a real uvicorn on 127.0.0.1 spoken to over HTTP, and the page in a real browser.

The browser is Debian's chromium driven by Playwright (skipped when /usr/bin/chromium is absent).
Set AGENTKIT_SCREENSHOTS=DIR to keep the screenshots (wide and narrow, light and dark).
"""

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from agentkit import Agent, tool
from agentkit.cli import main
from agentkit.cli._main import CLIError
from agentkit.cli._web import MAX_BODY, app, listen
from agentkit.testing import ScriptedModel
from tests import cli_agents

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "agentkit/cli/static"
CHROMIUM = Path("/usr/bin/chromium")
QUESTION = "Today is 2024-11-14, What's the temperature in San Francisco now? How about tomorrow?"


def serve(*args):
    """Start ``agentkit web --port 0 ARGS``; returns (process, base URL) once it listens."""
    child = subprocess.Popen(
        [sys.executable, "-m", "agentkit", "web", "--port", "0", *args], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for line in child.stderr:
        found = re.search(r"the chat page is at (http://127\.0\.0\.1:\d+)/", line)
        if found:
            return child, found.group(1)
    child.wait()
    raise AssertionError(f"agentkit web did not start (status {child.returncode})")


def stop(child):
    child.terminate()
    try:
        child.wait(30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


@pytest.fixture(scope="module")
def demo():
    if not (ROOT / "agentkit/_demo/model.safetensors").exists():
        pytest.skip("the demo model is not built")
    child, url = serve()
    try:
        yield url
    finally:
        stop(child)


@contextlib.contextmanager
def serving(agent, **options):
    """`agent`'s chat page on a real uvicorn in this process (a thread); yields its base URL."""
    import uvicorn

    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app(agent, **options), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture  # one per test: each test gets the page as the code is now (mutation testing)
def echo():
    with serving(cli_agents.echo) as url:
        yield url


def post(url, body, content_type="application/json", **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return call(url + "/api/chat", data, {"Content-Type": content_type, **headers})


def call(url, data=None, headers=None):
    """(status, content type, body) of a GET (or a POST with `data`); an HTTP error is an answer too."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=240) as response:
            return response.status, response.headers.get("content-type"), response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type"), e.read().decode()


def events(text):
    """The server-sent events of a response body, as (name, data) pairs."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


# --- HTTP ---------------------------------------------------------------------------------


def test_a_question_streams_tool_calls_results_and_the_answer(demo):
    status, content_type, body = post(demo, {"question": QUESTION, "thinking": True})
    assert status == 200 and content_type.startswith("text/event-stream")
    got = events(body)
    names = [name for name, _ in got]
    assert names[-1] == "done" and "reasoning" in names
    calls = [data for name, data in got if name == "tool_call"]
    results = [data for name, data in got if name == "tool_result"]
    assert [c["name"] for c in calls] == ["get_current_temperature", "get_temperature_date"]
    assert json.loads(calls[1]["arguments"]) == {"location": "San Francisco", "date": "2024-11-15"}
    assert [r["id"] for r in results] == [c["id"] for c in calls]
    assert json.loads(results[0]["content"])["temperature"] == 26.1
    text = "".join(data["text"] for name, data in got if name == "text")
    done = got[-1][1]
    assert text.strip() == done["output"].strip() and "26.1" in text and "25.9" in text
    assert done["turns"] == 2 and done["usage"]["total_tokens"] > 0
    assert done["history"][0] == {"role": "user", "content": QUESTION}  # no system message: the server adds it
    assert done["messages"][0]["role"] == "system"


def test_every_kind_of_event_in_order():
    with serving(cli_agents.weather) as url:
        status, content_type, body = post(url, {"question": "How warm is Oslo?", "thinking": True})
    assert status == 200 and content_type.startswith("text/event-stream")
    got = events(body)
    first_call = [n for n, _ in got].index("tool_call")
    assert "".join(d["text"] for n, d in got[:first_call] if n == "reasoning") == "I need the temperature."
    calls = [(d["name"], d["arguments"]) for n, d in got if n == "tool_call"]
    assert calls == [("get_current_temperature", '{"location": "Oslo"}'), ("shout", "{}"), ("broken", "{}")]
    results = {d["name"]: d for n, d in got if n == "tool_result"}
    assert results["shout"]["content"] == "x" * 600 and results["shout"]["error"] is None  # all of it
    assert results["broken"]["error"] == "ValueError: no luck"
    ids = {d["name"]: d["id"] for n, d in got if n == "tool_call"}
    assert all(results[name]["id"] == ids[name] for name in ids)
    assert [d for n, d in got if n == "turn"] == [{"turn": 0}, {"turn": 1}]
    assert "".join(d["text"] for n, d in got if n == "text") == "It is 26.1 °C in Oslo."
    assert '"It is 26.1 °C in Oslo."' in body  # UTF-8, not \u escapes
    name, done = got[-1]
    assert name == "done" and done["output"] == "It is 26.1 °C in Oslo." and done["reasoning"] == "I have it."
    assert cli_agents.weather.model.calls[-1].thinking is True
    assert done["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in done["history"]] == ["user", "assistant", "tool", "tool", "tool", "assistant"]
    names = [n for n, _ in got]
    assert names.index("turn") > max(i for i, n in enumerate(names) if n == "tool_result")


def test_info_lists_a_scripted_model_and_its_tools():
    with serving(cli_agents.weather) as url, urllib.request.urlopen(url + "/api/info", timeout=30) as r:
        info = json.loads(r.read())
    assert info == {
        "model": "ScriptedModel", "thinking": None,
        "tools": [{"name": "get_current_temperature", "description": "Get current temperature at a location."},
                  {"name": "shout", "description": "Say a lot."}, {"name": "broken", "description": "Fail."}],
    }  # fmt: skip


def test_model_names():
    from agentkit import LocalModel, RemoteModel
    from agentkit.cli._web import model_name

    assert model_name(RemoteModel("http://127.0.0.1:1/v1", model="internlm/Intern-S1-mini")) == "internlm/Intern-S1-mini"
    assert model_name(cli_agents.echo.model) == "ScriptedModel"
    if (ROOT / "agentkit/_demo/model.safetensors").exists():
        assert model_name(LocalModel.demo()) == "built-in demo model"


@pytest.mark.parametrize(("given", "shown"), [("127.1", "127.0.0.1"), ("::1", "[::1]")])
def test_the_command_serves_the_page(monkeypatch, capsys, given, shown):
    import uvicorn

    servers = []
    real = uvicorn.Server.__init__

    def spy(self, config):  # the real server; kept only to stop it at the end
        servers.append(self)
        real(self, config)

    monkeypatch.setattr(uvicorn.Server, "__init__", spy)
    status = []
    command = ["web", "--port", "0", "--host", given, "--thinking", "--agent", "tests.cli_agents:echo"]
    thread = threading.Thread(target=lambda: status.append(main(command)))
    thread.start()
    try:
        pattern = rf"^agentkit web: the chat page is at (http://{re.escape(shown)}:(\d+))/ \(Ctrl-C stops it\)$"
        for _ in range(600):
            line = capsys.readouterr().err
            found = re.search(pattern, line)
            if found:
                break
            thread.join(0.1)
        assert found, line
        url, port = found.groups()
        with urllib.request.urlopen(url + "/api/info", timeout=30) as r:
            assert json.loads(r.read())["thinking"] is True
        # 127.1 is 127.0.0.1 spelled otherwise: a Host the page takes only because --host named it.
        assert call(url + "/api/info", headers={"Host": f"{given}:{port}"})[0] == (200 if given == "127.1" else 421)
        refused = json.loads(call(url + "/api/info", headers={"Host": "evil.example"})[2])["error"]
        assert refused.endswith(f"this server answers only at {url} (or localhost)")
        assert events(post(url, {"question": "hi"})[2])[-1][1]["output"] == '1 questions; the last: "hi"'
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(30)
    assert status == [0]


def test_the_page_sends_the_history_and_the_server_keeps_none(echo):
    first = events(post(echo, {"question": "one"})[2])[-1][1]
    assert first["output"] == '1 questions; the last: "one"'
    second = events(post(echo, {"question": "two", "history": first["history"]})[2])[-1][1]
    assert second["output"] == '2 questions; the last: "two"'
    again = events(post(echo, {"question": "two"})[2])[-1][1]
    assert again["output"] == '1 questions; the last: "two"'  # nothing was kept between requests


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[1, 2]", 'the body must be a JSON object: {"question": "...", "history": [...], "thinking": null}'),
        ({"history": []}, "question must be a non-empty string"),
        ({"question": "  "}, "question must be a non-empty string"),
        ({"question": 3}, "question must be a non-empty string"),
        ({"question": "q", "history": {}}, "history must be a list of messages"),
        ({"question": "q", "history": [{"role": "system", "content": "x"}]},
         "history[0] must be a message with a role among ['user', 'assistant', 'tool']"),
        ({"question": "q", "history": ["hi"]}, "history[0] must be a message with a role among ['user', 'assistant', 'tool']"),
        ({"question": "q", "history": [{"role": "user", "content": 5}]}, "history[0].content must be a string or null"),
        ({"question": "q", "thinking": "yes"}, "thinking must be true, false or null"),
        ({"question": "q", "temperature": 2},
         "unknown field(s) ['temperature']: the fields are question, history, thinking, approvals"),
    ],
)
def test_a_malformed_body_gets_400_with_a_clear_message(echo, body, words):
    status, content_type, text = post(echo, body)
    assert status == 400 and content_type == "application/json"
    error = json.loads(text)["error"]
    assert error == words or error.startswith(f"{words}: "), error


def raw(url, head, body=b""):
    """Send a request line and headers (Host: the served address) then `body`, keep the connection open,
    and return the answer (an `http.client.HTTPResponse`): a server that waits for more body never answers."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(head.replace(b"\n", b"\r\n") % {b"host": f"{host}:{port}".encode()} + b"\r\n" + body)
    answer = http.client.HTTPResponse(sock)
    answer.begin()  # times out (a failure) when the server waits for the rest of the body
    answer.body = answer.read()
    sock.close()
    return answer


@pytest.mark.parametrize("length", [MAX_BODY + 1, 400_000_000])
def test_a_body_over_the_limit_gets_413_before_it_is_sent(echo, length):
    head = b"POST /api/chat HTTP/1.1\nHost: %(host)s\nContent-Type: application/json\nContent-Length: %(length)d\n"
    answer = raw(echo, head.replace(b"%(length)d", str(length).encode()))  # not one byte of the body
    assert answer.status == 413 and answer.getheader("connection") == "close"  # the body is never read
    assert json.loads(answer.body)["error"] == f"the request body is over {MAX_BODY} bytes"


def test_a_body_at_the_limit_is_read():
    question = "x" * (MAX_BODY - len(json.dumps({"question": ""})))
    with serving(Agent(ScriptedModel(lambda messages: str(len(messages[-1]["content"]))))) as url:
        status, _, body = post(url, {"question": question})
    assert status == 200 and events(body)[-1][1]["output"] == str(len(question))


def test_a_chunked_body_is_read_up_to_the_limit_and_no_further(echo):
    head = b"POST /api/chat HTTP/1.1\nHost: %(host)s\nContent-Type: application/json\nTransfer-Encoding: chunked\n"
    chunk = b"x" * 65536
    body = b"%x\r\n%s\r\n" % (len(chunk), chunk) * (MAX_BODY // len(chunk) + 1)  # just over, and never ended
    answer = raw(echo, head, body)
    assert answer.status == 413 and answer.getheader("connection") == "close"
    assert json.loads(answer.body)["error"] == f"the request body is over {MAX_BODY} bytes"


def test_a_failed_run_ends_the_stream_with_an_error_event():
    with serving(cli_agents.failing) as url:
        status, _, body = post(url, {"question": "hi"})
    assert status == 200
    assert events(body) == [("error", {"type": "ModelError", "message": "the server fell over"})]


def test_get_on_the_chat_endpoint_is_405(echo):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(echo + "/api/chat", timeout=30)
    assert e.value.code == 405


def test_info_names_the_model_and_tools(demo):
    with urllib.request.urlopen(demo + "/api/info", timeout=30) as r:
        info = json.loads(r.read())
    assert info["model"] == "built-in demo model"
    assert [t["name"] for t in info["tools"]] == ["get_current_temperature", "get_temperature_date"]


def test_the_page_and_its_assets_are_served_and_need_no_network(echo):
    for path in ("/", "/static/app.js", "/static/app.css"):
        with urllib.request.urlopen(echo + path, timeout=30) as r:
            assert r.status == 200
            text = r.read().decode()
        assert not re.search(r"(src|href)=\"(https?:)?//|url\((https?:)?//|import\s.*https?://", text), path
    assert "/static/app.js" in urllib.request.urlopen(echo + "/", timeout=30).read().decode()


def test_a_port_in_use_is_one_line_and_status_2(echo, capsys):
    port = echo.rsplit(":", 1)[1]
    assert main(["web", "--port", port, "--agent", "tests.cli_agents:echo"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"agentkit web: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_without_uvicorn_the_error_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as without the web extra
    assert main(["web", "--agent", "tests.cli_agents:echo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentkit web: the chat page needs starlette and uvicorn (")
    assert err.rstrip().endswith("pip install 'agentkit[web]'") and len(err.splitlines()) == 1


def test_without_starlette_the_app_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "starlette.applications", None)
    with pytest.raises(CLIError, match=r"pip install 'agentkit\[web\]'"):
        app(cli_agents.echo)


# --- what protects the page: another site's page can neither drive the agent nor read it ------


RAN = []


@tool
def pay(amount: int) -> str:
    """Pay an amount."""
    RAN.append(amount)
    return "paid"


def _pay(messages):
    if messages[-1]["role"] == "user":
        return '<tool_call>\n{"name": "pay", "arguments": {"amount": 500}}\n</tool_call>'
    return "Paid."


@pytest.fixture
def payer():
    RAN.clear()
    with serving(Agent(ScriptedModel(_pay), [pay])) as url:
        yield url


def test_a_same_origin_json_question_runs_and_streams(payer):
    port = payer.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        status, content_type, body = post(payer, {"question": "pay"}, Host=host, Origin=f"http://{host}")
        assert status == 200 and content_type.startswith("text/event-stream"), (host, body)
        assert events(body)[-1] == ("done", events(body)[-1][1]) and events(body)[-1][1]["output"] == "Paid."
    assert RAN == [500] * 4


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/jsonp", ""])  # fmt: skip
def test_a_question_not_sent_as_json_is_refused_and_runs_nothing(payer, content_type):
    origin = payer  # the page's own origin: even so, only JSON is taken
    status, _, text = post(payer, {"question": "pay"}, content_type=content_type, Origin=origin)
    assert status == 415, text
    assert json.loads(text)["error"] == f"the body must be sent as Content-Type: application/json, not {content_type!r}"
    assert RAN == []
    assert post(payer, {"question": "pay"}, content_type="application/json; charset=utf-8")[0] == 200
    assert RAN == [500]  # the tool records its calls: a refused question ran nothing


def test_a_question_without_content_type_is_refused(payer):
    body = json.dumps({"question": "pay"}).encode()
    answer = raw(payer, b"POST /api/chat HTTP/1.1\nHost: %(host)s\nContent-Length: " + str(len(body)).encode() + b"\n", body)
    assert answer.status == 415 and answer.getheader("connection") is None  # the body was read: the connection stays
    assert json.loads(answer.body)["error"] == "the body must be sent as Content-Type: application/json, not ''"
    assert RAN == []


def test_the_answer_is_neither_cached_nor_buffered_by_a_proxy(echo):
    request = urllib.request.Request(echo + "/api/chat", data=b'{"question": "hi"}',
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=240) as response:
        assert response.headers["Cache-Control"] == "no-store" and response.headers["X-Accel-Buffering"] == "no"


@pytest.mark.parametrize(("netloc", "split"), [
    ("localhost:8000", ("localhost", 8000)), ("LocalHost:8000", ("localhost", 8000)), ("localhost", ("localhost", 80)),
    ("[::1]:8000", ("::1", 8000)), ("[::ffff:127.0.0.1]:8000", ("127.0.0.1", 8000)), ("127.1:80", ("127.1", 80)),
    ("localhost:80x", None), ("localhost:8000/", None), ("localhost:8000?", None), ("localhost:8000?a", None),
    ("localhost:8000#a", None), ("evil@localhost:8000", None), ("evil:pw@localhost:8000", None),
])  # fmt: skip
def test_how_a_host_or_origin_is_read(netloc, split):
    from agentkit.cli._guard import _split

    assert _split(netloc) == split


def test_a_cross_site_no_cors_post_is_refused_and_runs_no_tool(payer):
    # What fetch("http://127.0.0.1:PORT/api/chat", {method: "POST", mode: "no-cors", body}) sends from another site.
    status, _, text = post(payer, {"question": "pay"}, content_type="text/plain;charset=UTF-8",
                           Origin="https://evil.example")  # fmt: skip
    assert status == 403 and "evil.example" in json.loads(text)["error"]
    assert RAN == []


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1:{port}",
                                   "http://evil.example:{port}", "http://127.0.0.1.evil.example:{port}"])  # fmt: skip
def test_an_origin_other_than_the_page_is_refused_on_every_route(payer, origin):
    origin = origin.format(port=payer.rsplit(":", 1)[1])
    status, _, text = post(payer, {"question": "pay"}, Origin=origin)
    assert status == 403
    assert json.loads(text)["error"] == (
        f"the Origin {origin!r} is not this page ({payer}): requests from other pages are refused"
    )
    assert call(payer + "/api/info", headers={"Origin": origin})[0] == 403
    assert RAN == []


@pytest.mark.parametrize("route", ["/", "/api/info", "/static/app.js", "/api/chat", "/nowhere"])
@pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", "127.0.0.1:1", "localhost", "127.0.0.1",
                                  "127.0.0.1.evil.example:{port}", "[::2]:{port}", "localhost:{port}x"])  # fmt: skip
def test_a_host_other_than_the_served_address_is_refused_on_every_route(payer, route, host):
    # DNS rebinding: evil.example resolves to 127.0.0.1, so the attacking page is "same-origin" and could read answers.
    host = host.format(port=payer.rsplit(":", 1)[1])
    data = json.dumps({"question": "pay"}).encode() if route == "/api/chat" else None
    status, content_type, text = call(payer + route, data, {"Host": host, "Content-Type": "application/json"})
    assert status == 421 and content_type == "application/json"
    assert json.loads(text)["error"] == (
        f"the Host {host!r} is not the address served: this server answers only at {payer} (or localhost)"
    )
    assert RAN == []


def test_a_request_without_host_is_refused(payer):
    answer = raw(payer, b"GET /api/info HTTP/1.0\n")  # HTTP/1.0: a Host header is not required
    assert answer.status == 421 and "the Host None is not the address served" in json.loads(answer.body)["error"]


def test_a_name_given_with_host_is_served():
    with serving(cli_agents.echo, host="box.example") as url:
        port = url.rsplit(":", 1)[1]
        status, _, body = post(url, {"question": "hi"}, Host=f"box.example:{port}", Origin=f"http://box.example:{port}")
        assert status == 200 and events(body)[-1][1]["output"] == '1 questions; the last: "hi"'
        assert call(url + "/api/info", headers={"Host": f"other.example:{port}"})[0] == 421


def test_without_origin_curl_and_scripts_still_work(payer):
    status, _, body = post(payer, {"question": "pay"})  # urllib sends no Origin, as curl
    assert status == 200 and events(body)[-1][1]["output"] == "Paid." and RAN == [500]


# --- the page in a real browser -------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (Debian's chromium package)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def shots():
    folder = os.environ.get("AGENTKIT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    return folder


def test_the_weather_question_in_the_browser(demo, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    page.goto(demo)
    page.wait_for_function("document.getElementById('model').textContent.length > 0")
    assert page.text_content("#model") == "built-in demo model"
    page.click("#thinking + .track")  # the thinking switch
    assert page.is_checked("#thinking")
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    assert page.text_content(".user .bubble") == QUESTION
    page.wait_for_selector(".stats", timeout=240_000)
    answer = page.text_content(".answer")
    assert "26.1" in answer and "25.9" in answer
    cards = page.locator(".tool")
    assert cards.count() == 2
    assert cards.nth(0).locator(".name").text_content() == "get_current_temperature"
    assert cards.nth(1).locator(".name").text_content() == "get_temperature_date"
    assert '"date": "2024-11-15"' in cards.nth(1).locator("code").first.text_content()
    assert "26.1" in cards.nth(0).locator("code").nth(1).text_content()
    assert cards.nth(0).locator(".status").text_content() == "done"
    reasoning = page.locator("details.reasoning").first
    assert reasoning.get_attribute("open") is None and not reasoning.locator(".text").is_visible()  # folded
    reasoning.locator("summary").click()
    assert reasoning.locator(".text").is_visible() and reasoning.locator(".text").text_content().strip()
    page.screenshot(path=str(tmp_path / "page.png"))

    # A second question, with the Send button, goes with the conversation so far.
    page.fill("#question", "What's the temperature in Oslo now?")
    page.click("#send")
    page.wait_for_function("document.querySelectorAll('.stats').length == 2", timeout=240_000)
    assert page.locator(".user").count() == 2
    # New chat: an empty page and an empty transcript.
    page.click("#new-chat")
    assert page.locator(".turn").count() == 0 and page.locator(".user").count() == 0
    assert page.evaluate("transcript.length") == 0
    assert page.is_visible("#suggestion")  # the empty page's welcome is back
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(("layout", "width"), [("wide", 1100), ("narrow", 390)])
def test_screenshots_wide_narrow_light_dark(demo, browser, tmp_path, scheme, layout, width):
    page = browser.new_page(viewport={"width": width, "height": 760}, color_scheme=scheme)
    page.goto(demo)
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
    page.click("#thinking + .track")
    page.click("#suggestion")  # the weather question, offered on an empty page
    page.press("#question", "Enter")
    page.wait_for_selector(".stats", timeout=240_000)
    assert "25.9" in page.text_content(".answer")
    # Narrow or wide, nothing is wider than the window.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    dark = sum(int(v) for v in re.findall(r"\d+", background)[:3]) < 300
    assert dark == (scheme == "dark")
    folder = shots() or tmp_path
    page.screenshot(path=str(Path(folder) / f"web-{layout}-{scheme}.png"))
    page.close()


# --- calls waiting for approval -------------------------------------------------------------


@pytest.fixture
def payments():
    cli_agents.PAID.clear()
    with serving(cli_agents.payments) as url:
        yield url


def valid(messages):
    """Every call answered exactly once."""
    answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    calls = [c["id"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or ()]
    return sorted(answered) == sorted(calls) and len(set(answered)) == len(answered)


def waiting(url, question="pay 5"):
    """Ask `question` on the page's API; the run stops before the call: returns the last event's data."""
    got = events(post(url, {"question": question})[2])
    assert got[-1][0] == "done", got
    return got[-1][1]


@pytest.mark.parametrize(("decision", "paid", "said"),
                         [(True, [5], "paid 5"), (False, [], "(denied)"), ("not today", [], "(not today)")])  # fmt: skip
def test_the_last_event_names_the_waiting_call_and_approvals_resume_the_run(payments, decision, paid, said):
    done = waiting(payments)
    assert cli_agents.PAID == []
    [call] = done["pending"]
    assert call["function"] == {"name": "pay", "arguments": '{"amount": 5}'}
    assert done["history"][-1]["tool_calls"] == [call]
    got = events(post(payments, {"history": done["history"], "approvals": {call["id"]: decision}})[2])
    names = [n for n, _ in got]
    assert names[-1] == "done" and names.count("tool_call") == names.count("tool_result") == 1
    assert paid == cli_agents.PAID
    resumed = got[-1][1]
    assert said in resumed["output"] and resumed["pending"] == []
    assert valid(resumed["history"]) and resumed["history"][: len(done["history"])] == done["history"]


def test_a_new_question_instead_of_a_decision_denies_the_waiting_call(payments):
    done = waiting(payments)
    got = events(post(payments, {"question": "hello", "history": done["history"]})[2])
    answer = got[-1][1]
    assert answer["output"] == "you asked: hello (1 calls denied by a new question)"
    assert cli_agents.PAID == [] and "tool_call" not in [n for n, _ in got]
    assert valid(answer["history"])
    assert [m["content"] for m in answer["history"] if m["role"] == "tool"] == [
        "Error: this call was not run: the user asked something else instead."
    ]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"history": [], "approvals": []}, "approvals must be an object"),
        ({"history": [], "approvals": {"c1": 1}}, "approvals['c1'] must be true, false or a reason"),
        ({"question": "q", "approvals": {"c1": True}}, "a question or approvals, not both"),
    ],
)
def test_malformed_approvals_get_400(payments, body, words):
    status, _, text = post(payments, body)
    assert status == 400 and words in json.loads(text)["error"], text


def ask_on_the_page(browser, url, question):
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    page.goto(url)
    page.fill("#question", question)
    page.press("#question", "Enter")
    return page


@pytest.mark.parametrize(("button", "paid", "status", "said"),
                         [("Approve", [5], "done", "tool said: paid 5"),
                          ("Deny", [], "denied", "tool said: Error: the user did not allow this tool call (denied).")])  # fmt: skip
def test_the_page_asks_before_a_call_and_resumes_with_the_decision(payments, browser, button, paid, status, said):
    page = ask_on_the_page(browser, payments, "pay 5")
    page.wait_for_selector(".tool.waiting .actions button", timeout=120_000)
    card = page.locator(".tool")
    assert card.locator(".name").text_content() == "pay"
    assert '"amount": 5' in card.locator("code").first.text_content()
    assert card.locator(".status").text_content() == "waiting for approval"
    assert cli_agents.PAID == []
    card.get_by_role("button", name=button).click()
    page.wait_for_function("document.querySelectorAll('.stats').length == 2", timeout=120_000)
    assert paid == cli_agents.PAID  # run once, or not at all
    assert page.text_content(".answer") == said
    assert page.locator(".tool").count() == 1 and card.locator(".status").text_content() == status
    assert page.locator(".actions").count() == 0
    assert valid(page.evaluate("transcript"))
    page.close()


def test_a_new_question_on_the_page_instead_of_a_decision_denies_the_calls(payments, browser):
    page = ask_on_the_page(browser, payments, "pay 5 and 7")
    page.wait_for_selector(".tool.waiting .actions button", timeout=120_000)
    page.locator(".tool").first.get_by_role("button", name="Approve").click()  # one decided, one not
    assert page.locator(".tool").first.locator(".status").text_content() == "approved"
    page.fill("#question", "hello")
    page.press("#question", "Enter")
    page.wait_for_function("document.querySelectorAll('.stats').length == 2", timeout=120_000)
    assert cli_agents.PAID == []
    assert page.text_content(".answer") == "you asked: hello (2 calls denied by a new question)"
    assert page.locator(".tool .status").all_text_contents() == ["not run: you asked something else"] * 2
    assert page.locator(".actions").count() == 0
    transcript = page.evaluate("transcript")
    assert valid(transcript) and [m["content"] for m in transcript if m["role"] == "user"] == ["pay 5 and 7", "hello"]
    page.close()


# --- a run stopped or failed after calls ran --------------------------------------------------


@pytest.fixture
def failing_after():
    cli_agents.PAID.clear()
    with serving(cli_agents.payments_then_failing) as url:
        yield url


def test_an_error_after_an_approved_call_carries_the_transcript_with_its_result(failing_after):
    done = waiting(failing_after)
    [call] = done["pending"]
    got = events(post(failing_after, {"history": done["history"], "approvals": {call["id"]: True}})[2])
    name, error = got[-1]
    assert name == "error" and error["type"] == "ModelError" and cli_agents.PAID == [5]
    assert valid(error["history"]) and error["history"][-1] == {
        "role": "tool", "tool_call_id": call["id"], "name": "pay", "content": "paid 5"}  # fmt: skip
    kept = [d["history"] for n, d in got if n == "history"]
    assert kept[0][-1]["content"].startswith("Error: this call was not run to completion")  # before it runs
    assert kept[-1] == error["history"]
    # The next question goes on from it: the call is not denied as unrun.
    answer = events(post(failing_after, {"question": "did it go through", "history": error["history"]})[2])[-1][1]
    assert answer["output"] == "you asked: did it go through (0 calls denied by a new question)"


def test_a_resume_refused_before_its_calls_start_keeps_the_history_as_given(failing_after):
    got = events(post(failing_after, {"question": "hello"})[2])  # the model answers; no call at all
    assert got[-1][0] == "done"
    # Approvals for a call of the last message whose tool asks for none: the run refuses them before anything runs,
    # and the page keeps the history it sent (nothing ran, nothing is answered).
    history = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "no_such_tool", "arguments": "{}"}}]}]  # fmt: skip
    failing = events(post(failing_after, {"history": history, "approvals": {"c": True}})[2])
    assert failing[-1][0] == "error" and failing[-1][1]["type"] == "UserError"
    assert failing[-1][1]["history"] == history and cli_agents.PAID == []


def test_each_turn_sends_the_transcript_to_keep(payments):
    done = waiting(payments)
    [call] = done["pending"]
    got = events(post(payments, {"history": done["history"], "approvals": {call["id"]: True}})[2])
    kept = [d["history"] for n, d in got if n == "history"]
    assert [m["content"] for m in kept[-1] if m["role"] == "tool"] == ["paid 5"]
    assert all(valid(h) for h in kept) and got[-1][1]["history"][: len(kept[-1])] == kept[-1]


def test_the_page_stopped_after_an_approved_call_keeps_its_result(browser):
    cli_agents.PAID.clear()
    with serving(cli_agents.slow_payments) as url:
        page = ask_on_the_page(browser, url, "pay 5")
        page.wait_for_selector(".tool.waiting .actions button", timeout=120_000)
        page.get_by_role("button", name="Approve").click()
        page.wait_for_function("document.querySelector('.answer')?.textContent.startsWith('tool said: paid 5')",
                               timeout=120_000)  # fmt: skip
        page.click("#send")  # Stop
        page.wait_for_selector(".error", timeout=120_000)
        assert "Stopped" in page.text_content(".error")
        ask_again(page, "did it go through")
        assert page.locator(".answer").last.text_content() == "you asked: did it go through (0 calls denied by a new question)"
        transcript = page.evaluate("transcript")
        assert valid(transcript) and [m["content"] for m in transcript if m["role"] == "tool"] == ["paid 5"]
        assert cli_agents.PAID == [5]
        page.close()


def test_the_page_after_an_error_that_followed_an_approved_call_keeps_its_result(failing_after, browser):
    page = ask_on_the_page(browser, failing_after, "pay 5")
    page.wait_for_selector(".tool.waiting .actions button", timeout=120_000)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector(".error", timeout=120_000)
    assert "ModelError" in page.text_content(".error")
    ask_again(page, "did it go through")
    assert page.locator(".answer").last.text_content() == "you asked: did it go through (0 calls denied by a new question)"
    assert cli_agents.PAID == [5]
    page.close()


def test_the_page_stopped_while_an_approved_call_runs_says_it_may_have_run(browser, tmp_path, monkeypatch):
    started = tmp_path / "paid"
    monkeypatch.setenv("AGENTKIT_TEST_PAID", str(started))
    with serving(cli_agents.hanging_payments) as url:
        page = ask_on_the_page(browser, url, "pay 5")
        page.wait_for_selector(".tool.waiting .actions button", timeout=120_000)
        page.get_by_role("button", name="Approve").click()
        page.wait_for_function("document.querySelector('.tool .status').textContent == 'running…'", timeout=120_000)
        while not started.exists():  # the call runs
            time.sleep(0.01)  # polling the condition
        page.click("#send")  # Stop
        page.wait_for_selector(".error", timeout=120_000)
        assert page.locator(".tool .status").text_content() == "stopped: may have partly run"
        ask_again(page, "did it go through")
        assert page.locator(".answer").last.text_content() == "you asked: did it go through (0 calls denied by a new question)"
        [answer] = [m["content"] for m in page.evaluate("transcript") if m["role"] == "tool"]
        assert "may have partly run" in answer
        page.close()


def ask_again(page, question):
    stats = page.locator(".stats").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    page.wait_for_function(f"document.querySelectorAll('.stats').length > {stats}", timeout=120_000)


# --- framing, deep bodies, approvals for calls not waiting ----------------------------------


@pytest.mark.parametrize(("path", "data"), [("/", None), ("/api/info", None), ("/static/app.js", None),
                                            ("/api/chat", b'{"question": "hi"}'), ("/api/chat", b"{bad")])  # fmt: skip
def test_every_answer_forbids_framing(echo, path, data):
    request = urllib.request.Request(echo + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            headers = response.headers
            response.read()
    except urllib.error.HTTPError as e:
        headers = e.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_a_refused_request_forbids_framing_too(echo):
    answer = raw(echo, b"GET / HTTP/1.1\nHost: evil.example:80\n")
    assert answer.status == 421 and answer.getheader("x-frame-options") == "DENY"


def test_a_body_nested_too_deep_gets_400(echo):
    pad = b"[" * 200_000 + b"]" * 200_000
    status, _, text = post(echo, b'{"question": "q", "history": [{"role": "user", "content": "x", "pad": ' + pad + b"}]}")
    assert status == 400 and json.loads(text)["error"] == "the body is nested too deeply to read"


def test_approvals_for_calls_not_in_the_last_message_are_refused_and_run_nothing(payments):
    done = waiting(payments)
    [call] = done["pending"]
    approve = {call["id"]: True}
    replay = [*done["history"], {"role": "tool", "tool_call_id": call["id"], "content": "paid 5"},
              {"role": "assistant", "content": "Paid."}]  # fmt: skip
    for history in (replay, done["history"][:-1], [*done["history"], {"role": "user", "content": "and again"}]):
        status, _, text = post(payments, {"history": history, "approvals": approve})
        assert status == 400, text
        assert json.loads(text)["error"] == (
            f"approvals name calls that are not waiting in the history's last message: {call['id']}")
    assert cli_agents.PAID == []


@pytest.mark.parametrize("depth", [65, 500])
def test_a_message_nested_deeper_than_a_real_one_gets_400(echo, depth):
    message = {"role": "user", "content": "x", "pad": json.loads("[" * (depth - 1) + "]" * (depth - 1))}
    status, _, text = post(echo, {"question": "q", "history": [message]})
    assert status == 400 and json.loads(text)["error"] == "history[0] is nested more than 64 deep", text


def test_a_message_nested_64_deep_is_taken(echo):
    message = {"role": "user", "content": "x", "pad": json.loads("[" * 63 + "]" * 63)}  # with the message: 64
    status, _, text = post(echo, {"question": "q", "history": [message]})
    assert status == 200 and events(text)[-1][0] == "done", text


# --- the command line, as a newcomer hits it (issue 29) ----------------------------------------


def agentkit_command(*args):
    """`python -m agentkit ARGS` in a child process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "agentkit", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=240)  # fmt: skip


def test_a_port_out_of_range_is_one_line_and_status_2():
    done = agentkit_command("web", "--port", "99999", "--agent", "tests.cli_agents:echo")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == ["agentkit web: cannot listen on 127.0.0.1:99999: a port is 0 to 65535"]


def test_a_taken_port_is_said_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        # The model named is not there: the port is checked first, so its error is the one shown.
        done = agentkit_command("web", "--port", str(port), "--model", str(tmp_path / "no-such-model"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"agentkit web: cannot listen on 127.0.0.1:{port}: Address already in use"]
