"""OpenTelemetry spans of agent runs, read back from the SDK's in-memory exporter, and once
through the OTLP HTTP exporter into a receiver that decodes the protobuf."""

import contextlib
import http.server
import inspect
import json
import threading

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentkit import Agent, ModelError, RemoteModel, UserError, _capability, tool, tracing
from agentkit.testing import ScriptedModel
from tests.agent_helpers import QUESTION, get_current_temperature, get_temperature_date, qw_call, weather_agent
from tests.scripted_server import Reply, ScriptedServer, completion

pytestmark = pytest.mark.anyio


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument(tracer_provider=provider)
    yield exporter
    tracing.uninstrument()


def tree(exporter) -> list[str]:
    """The finished spans as an indented tree (children in start order)."""
    finished = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
    ids = {s.context.span_id for s in finished}
    lines: list[str] = []

    def walk(parent, depth):
        for s in finished:
            if (s.parent.span_id if s.parent else None) == parent:
                lines.append("  " * depth + s.name)
                walk(s.context.span_id, depth + 1)

    walk(None, 0)
    assert all(s.parent is None or s.parent.span_id in ids for s in finished)
    return lines


def by_name(exporter, prefix):
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


async def test_a_run_is_one_invoke_agent_span_with_chat_and_tool_children(spans):
    agent, _ = weather_agent()
    result = await agent.run(QUESTION)
    assert tree(spans) == [
        "invoke_agent",
        "  chat",
        "  execute_tool get_current_temperature",
        "  execute_tool get_temperature_date",
        "  chat",
    ]
    run = by_name(spans, "invoke_agent")[0]
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert run.attributes["gen_ai.usage.output_tokens"] == result.usage.completion_tokens
    assert run.status.status_code == StatusCode.UNSET
    chat = by_name(spans, "chat")[0]
    assert chat.kind == SpanKind.INTERNAL and "gen_ai.provider.name" not in chat.attributes
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert chat.attributes["gen_ai.usage.output_tokens"] > 0
    assert chat.attributes["gen_ai.usage.input_tokens"] == 1  # ScriptedModel counts one per call
    # every span was ended and taken off the context: nothing is left current after the run
    assert not trace.get_current_span().get_span_context().is_valid
    tool_span = by_name(spans, "execute_tool get_current_temperature")[0]
    call = result.messages[1]["tool_calls"][0]
    assert dict(tool_span.attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_current_temperature",
        "gen_ai.tool.call.id": call["id"],
        "gen_ai.tool.type": "function",
    }


def received(exporter) -> str:
    """Everything the exporter got, as text: every span's name, attributes, status, events, links, resource."""
    return "\n".join(span.to_json() for span in exporter.get_finished_spans())


@tool
def lookup(code: int, city: str) -> str:
    """Look a code up.

    Args:
        code: A code.
        city: A city.
    """
    if city == "Raise-Secret-City":
        raise RuntimeError("exception-message-secret-7781")
    return "result-text-secret-5521"


def content_script(messages):
    """Every way content can reach a span: a question, arguments, a result, a tool's exception
    message, arguments that fail the schema (jsonschema quotes the value), a model error's text."""
    last = messages[-1]
    if last["role"] == "user":
        return (qw_call("lookup", code=1, city="Argument-Secret-City") + qw_call("lookup", code=2, city="Raise-Secret-City")
                + qw_call("lookup", code="not-an-int-secret-4242", city="x"))  # fmt: skip
    raise ConnectionError("model-error-secret-3131")


CONTENT = ["question-secret-1234", "Argument-Secret-City", "Raise-Secret-City", "result-text-secret-5521",
           "exception-message-secret-7781", "not-an-int-secret-4242", "model-error-secret-3131"]  # fmt: skip


async def test_without_capture_content_no_string_the_exporter_gets_holds_content(spans):
    with pytest.raises(ModelError):
        await Agent(ScriptedModel(content_script), [lookup]).run("question-secret-1234")
    text = received(spans)
    assert len(by_name(spans, "execute_tool lookup")) == 3 and text.count('"status_code": "ERROR"') == 4
    assert [secret for secret in CONTENT if secret in text] == []
    # what failed is still told, by type names only
    statuses = sorted((s.name, s.status.description) for s in spans.get_finished_spans() if s.status.description)
    assert statuses == [("chat", "ConnectionError"), ("execute_tool lookup", "RuntimeError"),
                        ("execute_tool lookup", "ToolArgumentsError"), ("invoke_agent", "ModelError")]  # fmt: skip


async def test_with_capture_content_the_same_run_records_it_all():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument(tracer_provider=provider, capture_content=True)
    try:
        with pytest.raises(ModelError):
            await Agent(ScriptedModel(content_script), [lookup]).run("question-secret-1234")
    finally:
        tracing.uninstrument()
    text = received(exporter)
    assert [secret for secret in CONTENT if secret not in text] == []  # the check above can see each one


async def test_capture_content_records_messages_arguments_and_results():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument(tracer_provider=provider, capture_content=True)
    try:
        agent, _ = weather_agent()
        result = await agent.run(QUESTION)
    finally:
        tracing.uninstrument()
    first_chat = by_name(exporter, "chat")[0]
    assert json.loads(first_chat.attributes["gen_ai.input.messages"]) == [{"role": "user", "content": QUESTION}]
    assert json.loads(first_chat.attributes["gen_ai.output.messages"])[0]["tool_calls"]
    definitions = json.loads(first_chat.attributes["gen_ai.tool.definitions"])
    assert definitions == [get_current_temperature.schema, get_temperature_date.schema]
    assert "°C" in by_name(exporter, "chat")[1].attributes["gen_ai.output.messages"]  # text as written, not escaped
    tool_span = by_name(exporter, "execute_tool get_current_temperature")[0]
    assert json.loads(tool_span.attributes["gen_ai.tool.call.arguments"]) == {"location": "San Francisco, CA, USA"}
    assert tool_span.attributes["gen_ai.tool.call.result"] == result.messages[2]["content"]
    run = by_name(exporter, "invoke_agent")[0]
    assert json.loads(run.attributes["gen_ai.output.messages"]) == result.messages[-1:]
    assert json.loads(run.attributes["gen_ai.input.messages"]) == result.messages[:1]


@tool
def broken(x: int) -> int:
    """Fails.

    Args:
        x: A number.
    """
    raise RuntimeError("nope")


async def test_a_failed_tool_call_and_a_failed_run_are_errors(spans):
    model = ScriptedModel([qw_call("broken", x=1), ConnectionError("gone")])
    with pytest.raises(ModelError):
        await Agent(model, [broken]).run("go")
    tool_span = by_name(spans, "execute_tool broken")[0]
    assert tool_span.status.status_code == StatusCode.ERROR
    assert tool_span.attributes["error.type"] == "tool_error"
    assert tool_span.status.description == "RuntimeError"  # no message without capture_content
    chats = by_name(spans, "chat")
    assert chats[0].status.status_code == StatusCode.UNSET
    assert chats[1].status.status_code == StatusCode.ERROR and chats[1].attributes["error.type"] == "ConnectionError"
    assert chats[1].status.description == "ConnectionError"
    run = by_name(spans, "invoke_agent")[0]
    assert run.status.status_code == StatusCode.ERROR and run.attributes["error.type"] == "ModelError"


async def test_streaming_runs_have_the_same_tree(spans):
    agent, _ = weather_agent()
    async with contextlib.aclosing(agent.stream(QUESTION)) as events:
        async for _ in events:
            pass
    assert sorted(tree(spans)) == sorted([
        "invoke_agent",
        "  chat",
        "  execute_tool get_current_temperature",
        "  execute_tool get_temperature_date",
        "  chat",
    ])  # fmt: skip


async def test_concurrent_runs_each_get_their_own_children(spans):
    def answer(messages):
        if messages[-1]["role"] == "user":
            return qw_call("get_current_temperature", location=messages[-1]["content"])
        return "done"

    agent, _ = weather_agent()
    agent.model = ScriptedModel(answer, delay=0.01)

    async def one(i):
        await agent.run(f"city {i}")

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(one, i)
    runs = by_name(spans, "invoke_agent")
    assert len(runs) == 5 and all(r.parent is None for r in runs)
    for run in runs:
        children = [s for s in spans.get_finished_spans() if s.parent and s.parent.span_id == run.context.span_id]
        assert sorted(s.name for s in children) == ["chat", "chat", "execute_tool get_current_temperature"]
        assert all(s.context.trace_id == run.context.trace_id for s in children)
    assert len({r.context.trace_id for r in runs}) == 5


async def test_a_run_inside_a_tool_is_a_child_of_that_tool_call(spans):
    inner = Agent(ScriptedModel(["inner answer"]))

    @tool
    async def ask_expert(question: str) -> str:
        """Ask another agent.

        Args:
            question: The question.
        """
        return (await inner.run(question)).output

    outer = Agent(ScriptedModel([qw_call("ask_expert", question="why?"), "ok"]), [ask_expert])
    await outer.run("go")
    assert tree(spans) == ["invoke_agent", "  chat", "  execute_tool ask_expert", "    invoke_agent", "      chat",
                           "  chat"]  # fmt: skip


async def test_remote_model_spans_name_the_model_and_server(spans):
    with ScriptedServer(model="internlm/Intern-S1") as server:
        server.script(Reply(body=completion("hi")))
        agent = Agent(RemoteModel(server.url))  # the model id is discovered on the first call
        await agent.run("hello")
    chat = by_name(spans, "chat")[0]
    assert chat.name == "chat internlm/Intern-S1"
    assert chat.attributes["gen_ai.request.model"] == "internlm/Intern-S1"
    assert chat.attributes["server.address"] == "127.0.0.1" and chat.attributes["server.port"] == server.port
    assert chat.attributes["gen_ai.provider.name"] == "vllm"
    assert chat.kind == SpanKind.CLIENT
    assert chat.attributes["gen_ai.response.model"] == "internlm/Intern-S1"
    run = by_name(spans, "invoke_agent")[0]
    assert run.name == "invoke_agent internlm/Intern-S1"
    assert run.attributes["gen_ai.request.model"] == "internlm/Intern-S1"


async def test_request_options_are_recorded():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument(tracer_provider=provider)
    try:
        await Agent(ScriptedModel(["x"])).run("q", max_tokens=7, temperature=0.5, top_p=0.9, top_k=20)
        await Agent(ScriptedModel(["x"])).run("q", max_tokens=7)
    finally:
        tracing.uninstrument()
    chat, other = sorted(by_name(exporter, "chat"), key=lambda s: s.start_time)
    assert chat.attributes["gen_ai.request.max_tokens"] == 7
    assert chat.attributes["gen_ai.request.temperature"] == 0.5
    assert chat.attributes["gen_ai.request.top_p"] == 0.9 and chat.attributes["gen_ai.request.top_k"] == 20
    assert "gen_ai.request.top_p" not in other.attributes  # only what the run set


async def test_uninstrumented_runs_use_the_no_op_observer_and_emit_nothing():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument(tracer_provider=provider)
    tracing.uninstrument()
    assert _capability.global_capabilities() == []
    agent, _ = weather_agent()
    await agent.run(QUESTION)
    assert exporter.get_finished_spans() == ()


def test_otlp_http_export_end_to_end():
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    received: list[bytes] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            assert self.path == "/v1/traces"
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.server_port}/v1/traces")
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracing.instrument(tracer_provider=provider)
        try:
            agent, _ = weather_agent()
            agent.run_sync(QUESTION)
        finally:
            tracing.uninstrument()
            provider.shutdown()
    finally:
        server.shutdown()
    spans = []
    for body in received:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                assert scope.scope.name == "agentkit"
                spans.extend(scope.spans)
    names = sorted(s.name for s in spans)
    assert names == sorted(["invoke_agent", "chat", "chat", "execute_tool get_current_temperature",
                            "execute_tool get_temperature_date"])  # fmt: skip
    root = next(s for s in spans if s.name == "invoke_agent")
    assert all(s.parent_span_id == root.span_id for s in spans if s is not root)
    attributes = {a.key: a.value for a in next(s for s in spans if s.name.startswith("execute_tool")).attributes}
    assert attributes["gen_ai.operation.name"].string_value == "execute_tool"


def test_the_overhead_benchmark_runs_and_prints_its_table():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "tools" / "bench_tracing.py"), "--runs", "20", "--rounds", "2"],
                         capture_output=True, text=True, timeout=240)  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "configuration" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| not instrumented", "| instrumented, no-op tracer provider",
        "| instrumented, SDK + in-memory exporter", "| instrumented, SDK, capture_content=True"]  # fmt: skip
    assert rows[0].endswith("| 1.00× |")


async def test_a_failed_run_on_a_named_remote_model_still_names_it(spans):
    with ScriptedServer() as server:
        server.script(Reply(status=500, body={"error": {"message": "boom"}}))
        with pytest.raises(ModelError):
            await Agent(RemoteModel(server.url, model="m", max_retries=0)).run("hello")
    run = by_name(spans, "invoke_agent")[0]
    assert run.name == "invoke_agent m" and run.attributes["gen_ai.request.model"] == "m"
    assert run.status.status_code == StatusCode.ERROR


def test_model_ids_and_server_addresses():
    from pathlib import Path

    from agentkit import LocalModel

    assert tracing._server(RemoteModel("https://api.example.com/v1", model="m")) == {
        "server.address": "api.example.com", "server.port": 443}  # fmt: skip
    assert tracing._server(RemoteModel("http://gpu-box/v1", model="m")) == {
        "server.address": "gpu-box",
        "server.port": 80,
    }
    assert tracing._server(RemoteModel("http://10.0.0.2:8000/v1", model="m"))["server.port"] == 8000
    assert tracing._server(ScriptedModel([])) == {}
    assert tracing._model_id(RemoteModel("http://gpu-box/v1", model="m")) == "m"
    assert tracing._model_id(ScriptedModel([])) is None
    local = LocalModel.demo()
    assert tracing._model_id(local) == str(local.model.config.name_or_path) and Path(tracing._model_id(local)).exists()
    assert tracing._json({"path": Path("a"), "text": "é"}) == '{"path": "a", "text": "é"}'


@tool
def dump(part: int) -> str:
    """A large tool output.

    Args:
        part: Which part.
    """
    return f"HEAD{part}" + "y" * 300_000 + f"TAIL{part}"


def dump_script(messages):
    tool_messages = [m for m in messages if m["role"] == "tool"]
    return qw_call("dump", part=len(tool_messages)) if len(tool_messages) < 6 else "done"


async def captured(**options):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument(tracer_provider=provider, capture_content=True, **options)
    try:
        await Agent(ScriptedModel(dump_script), [dump], max_tool_output=None).run("go")
    finally:
        tracing.uninstrument()
    return exporter


def texts(exporter) -> list[str]:
    return [v for s in exporter.get_finished_spans() for v in s.attributes.values() if isinstance(v, str)]


async def test_each_captured_text_is_cut_to_max_content_chars_keeping_its_start_and_end():
    # 6 tool outputs of 300 kB: uncut, the 7 chat spans' conversations alone would hold about 6.3 MB
    assert inspect.signature(tracing.instrument).parameters["max_content_chars"].default == 16_000
    exporter = await captured()
    assert max(map(len, texts(exporter))) == 16_000 and sum(map(len, texts(exporter))) < 16_000 * 30
    result = by_name(exporter, "execute_tool dump")[2].attributes["gen_ai.tool.call.result"]
    assert result.startswith("HEAD2yyy") and result.endswith("yyyTAIL2")
    assert " …[300010 characters, cut to 16000]… " in result
    last_chat = by_name(exporter, "chat")[-1].attributes["gen_ai.input.messages"]
    assert last_chat.startswith('[{"role": "user", "content": "go"}') and last_chat.endswith('yyyTAIL5"}]')  # the newest message
    small = await captured(max_content_chars=100)
    assert max(map(len, texts(small))) == 100
    whole = await captured(max_content_chars=None)
    assert len(by_name(whole, "execute_tool dump")[0].attributes["gen_ai.tool.call.result"]) == 300_010


@pytest.mark.parametrize("bad", [0, 99, True, 1.5, "16000"])
def test_max_content_chars_must_be_none_or_an_int_of_at_least_100(bad):
    with pytest.raises(UserError, match="max_content_chars must be None or an int of at least 100"):
        tracing.instrument(max_content_chars=bad)
    assert _capability.global_capabilities() == []  # nothing was turned on
