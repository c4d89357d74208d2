"""agentkit.mcp against servers and clients nobody here wrote: a server built with the MCP SDK's own
server API (tests/mcp_servers/sdk_server.py, over stdio and Streamable HTTP), the reference server
`mcp-server-time` from PyPI, and the SDK's own client talking to `agentkit mcp serve`."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import anyio
import pytest

from agentkit import Agent, ToolCallFinished, ToolCallStarted, UserError
from agentkit.exceptions import ToolsetError
from agentkit.testing import ScriptedModel, check_transcript

from .agent_helpers import qw_call
from .mcp_servers import free_port, refusing_server, wait_for_port

mcp = pytest.importorskip("mcp")
from agentkit.mcp import MCPToolset  # noqa: E402

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
SDK_SERVER = str(ROOT / "tests" / "mcp_servers" / "sdk_server.py")


def sdk_stdio(**kw) -> MCPToolset:
    return MCPToolset.stdio(sys.executable, [SDK_SERVER], **kw)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits to be reaped.
    with contextlib.suppress(FileNotFoundError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return False


def gone_soon(pid: int, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


async def finished(agent: Agent, question: str, **kw) -> tuple[list, object]:
    events = [e async for e in agent.stream(question, **kw)]
    return [e for e in events if isinstance(e, ToolCallFinished)], events[-1].result


# --- the client, over stdio ----------------------------------------------------------------------


async def test_lists_the_servers_tools_with_its_own_schemas():
    async with sdk_stdio() as toolset:
        tools = {t.name: t for t in await toolset.list_tools()}
    assert {"add", "boom", "slow", "crash", "hang", "picture", "record", "pid", "grow"} <= set(tools)
    assert tools["add"].parameters["properties"] == {"a": {"title": "A", "type": "integer"},
                                                     "b": {"title": "B", "type": "integer"}}  # fmt: skip
    assert tools["add"].parameters["required"] == ["a", "b"]
    assert tools["add"].description == "Add two integers."


async def test_list_tools_outside_async_with_is_a_user_error():
    with pytest.raises(UserError, match="async with"):
        await sdk_stdio().list_tools()


async def test_an_agent_calls_mcp_tools_next_to_functions_and_reads_their_results():
    def double(x: int) -> int:
        """Double a number.

        Args:
            x: The number.
        """
        return 2 * x

    model = ScriptedModel([qw_call("add", a=2, b=3) + qw_call("double", x=4) + qw_call("record") + qw_call("picture"),
                           "done"])  # fmt: skip
    done, result = await finished(Agent(model, [double, sdk_stdio()]), "q")
    check_transcript(result.messages)
    by_name = {e.call.name: e for e in done}
    assert by_name["add"].content == "5" and by_name["add"].error is None
    assert by_name["double"].content == "8"
    assert json.loads(by_name["record"].content) == {"id": 7, "tags": ["a", "b"]}  # structured content as JSON
    assert by_name["picture"].content == "[image: image/png, 79 bytes]\na red dot"
    # A ScriptedModel does not take images: the placeholder is all the model gets.
    assert [m["role"] for m in result.messages[1:]] == ["assistant", "tool", "tool", "tool", "tool", "assistant"]
    # The model saw the MCP tools' schemas next to the function's.
    sent = set(model.calls[0].tools)
    assert {"add", "double", "record"} <= sent


async def test_images_follow_the_tool_messages_for_a_model_that_takes_images_and_reach_it_as_pixels(tmp_path):
    model = ScriptedModel([qw_call("picture") + qw_call("add", a=1, b=1), "a red dot"])
    model.takes_images = True  # as LocalModel says of a vision model, and RemoteModel(images=True)
    result = await Agent(model, [sdk_stdio()]).run("What is in the picture?")
    check_transcript(result.messages)
    picture_call = result.messages[1]["tool_calls"][0]["id"]
    images = result.messages[4]
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "tool", "user", "assistant"]
    assert images["content"][0] == {"type": "text", "text": f"The images returned by picture (call {picture_call}):"}
    url = images["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,iVBORw0KGgo") and len(images["content"]) == 2
    # The same transcript, given to a real vision-language model (a tiny LLaVA with its processor):
    # the image reaches its vision tower as pixels.
    pytest.importorskip("transformers")
    from agentkit import LocalModel
    from tools.build_test_models import build_tiny_vlm

    vlm = LocalModel(build_tiny_vlm(tmp_path / "llava"), device_map=None)
    assert vlm.takes_images and not LocalModel.demo().takes_images  # the demo model has no processor
    seen: list[tuple] = []
    vlm.model.model.vision_tower.register_forward_hook(lambda mod, args, out: seen.append(tuple(args[0].shape)))
    await vlm.complete(result.messages[:-1])
    assert seen == [(1, 3, 28, 28)]


def sent_images(message) -> list[bytes]:
    return [base64.b64decode(p["image_url"]["url"].partition(",")[2]) for p in message["content"] if "image_url" in p]


async def test_images_over_the_toolsets_caps_are_left_out_with_a_note_the_model_reads():
    model = ScriptedModel([qw_call("pictures", sizes=[100, 5000, 200, 1000, 300]), "seen"])
    model.takes_images = True
    toolset = sdk_stdio(max_image_bytes=1000, max_images=3)
    done, result = await finished(Agent(model, [toolset]), "q")
    check_transcript(result.messages)
    notes = [line for line in done[0].content.splitlines() if "left out" in line]
    assert notes == [
        "[image 2 of 5 (image/png, 5000 bytes) left out: over the limit of 1000 bytes per image]",
        "[image 5 of 5 left out: over the limit of 3 images per result]",
    ]
    # The tool message the model read says so, and the images that fit reach it (image 4 is at the limit).
    assert result.messages[2]["content"] == done[0].content
    assert sent_images(result.messages[3]) == [bytes([0]) * 100, bytes([2]) * 200, bytes([3]) * 1000]
    assert "[image: image/png, 5000 bytes]" in done[0].content  # the server's placeholders stay


async def test_the_default_image_caps_and_none_for_no_cap():
    toolset = sdk_stdio()
    assert (toolset.max_image_bytes, toolset.max_images) == (5 * 1024 * 1024, 8)
    model = ScriptedModel([qw_call("pictures", sizes=[1] * 9), "seen"])
    model.takes_images = True
    done, result = await finished(Agent(model, [toolset]), "q")
    assert len(sent_images(result.messages[3])) == 8 and "[image 9 of 9 left out" in done[0].content
    model = ScriptedModel([qw_call("pictures", sizes=[1] * 9), "seen"])
    model.takes_images = True
    _, result = await finished(Agent(model, [sdk_stdio(max_images=None)]), "q")
    assert len(sent_images(result.messages[3])) == 9
    for bad in ({"max_images": -1}, {"max_image_bytes": 0}, {"max_images": True}, {"max_image_bytes": 1.5}):
        with pytest.raises(UserError, match=next(iter(bad))):
            sdk_stdio(**bad)


async def test_a_remote_model_declared_to_take_images_is_sent_them():
    from agentkit import RemoteModel
    from tests.scripted_server import Reply, ScriptedServer, call, completion

    with ScriptedServer() as server:
        for images in (False, True):
            server.script(Reply(completion(None, tool_calls=[call("picture", {})], finish="tool_calls")),
                          Reply(completion("red")))  # fmt: skip
            result = await Agent(RemoteModel(server.url, images=images), [sdk_stdio()]).run("q")
            check_transcript(result.messages)
            sent = server.requests[-1]["messages"]  # what the second model call carried
            if images:
                assert sent[-1]["role"] == "user" and sent[-1]["content"][1]["type"] == "image_url"
            else:
                assert (sent[-1]["role"], sent[-1]["content"]) == ("tool", "[image: image/png, 79 bytes]\na red dot")


async def test_an_is_error_result_is_a_tool_failure_the_model_reads():
    model = ScriptedModel([qw_call("boom", what="deleting /"), "sorry"])
    done, result = await finished(Agent(model, [sdk_stdio()]), "q")
    assert done[0].error == "boom: deleting / is not allowed"
    assert done[0].content == "Error: boom: deleting / is not allowed"
    assert result.messages[2]["content"] == "Error: boom: deleting / is not allowed"
    assert result.output == "sorry"


async def test_arguments_are_checked_against_the_servers_schema_before_the_call():
    model = ScriptedModel([qw_call("add", a="two"), "ok"])
    done, _ = await finished(Agent(model, [sdk_stdio()]), "q")
    # agentkit's own wording (the server's would be a pydantic dump): it never reached the server.
    assert (
        done[0].content
        == 'Error: Invalid arguments for add:\n- a: "two" is not of type "integer"\n- missing required argument \'b\''
    )


async def test_prefix_include_and_exclude():
    async with sdk_stdio(prefix="calc", include=["add", "boom", "pid"], exclude=["boom"]) as toolset:
        names = sorted(t.name for t in await toolset.list_tools())
        assert names == ["calc_add", "calc_pid"]
        model = ScriptedModel([qw_call("calc_add", a=1, b=1), "two"])
        done, _ = await finished(Agent(model, [toolset]), "q")
        assert (done[0].call.name, done[0].content) == ("calc_add", "2")  # called as `add` on the server


@pytest.mark.parametrize("option", ["include", "exclude", "requires_approval"])
async def test_a_name_the_server_lacks_or_a_bare_string_is_a_user_error(option):
    with pytest.raises(UserError, match=f"{option} names 'nope', which the server does not have"):
        async with sdk_stdio(**{option: ["add", "nope"]}) as toolset:
            await toolset.list_tools()
    with pytest.raises(UserError, match=f"{option} wants a list of tool names, not the string 'add'"):
        sdk_stdio(**{option: "add"})


async def test_two_toolsets_with_one_tool_name_is_a_user_error_naming_it():
    def pid() -> int:
        """A clash."""
        return 0

    agent = Agent(ScriptedModel(["unused"]), [pid, sdk_stdio()])
    with pytest.raises(UserError, match="two tools are named 'pid'"):
        await agent.run("q")
    # The fix the message suggests works.
    agent = Agent(ScriptedModel(["fine"]), [pid, sdk_stdio(prefix="srv")])
    assert (await agent.run("q")).output == "fine"


async def test_calls_to_tools_named_in_requires_approval_wait_for_the_caller():
    toolset = sdk_stdio(requires_approval=["add"])
    agent = Agent(ScriptedModel([qw_call("add", a=1, b=2) + qw_call("pid"), "three"]), [toolset])
    stopped = await agent.run("q")
    assert [c.name for c in stopped.pending] == ["add"]
    check_transcript(stopped.messages, pending=True)
    assert len(stopped.messages) == 2  # no call of that message ran
    resumed = await agent.run(stopped.messages, approvals={stopped.pending[0].id: True})
    check_transcript(resumed.messages)
    assert resumed.messages[2]["content"] == "3" and resumed.output == "three"


def test_secrets_stay_out_of_the_toolsets_repr():
    stdio = MCPToolset.stdio("srv", ["--api-key", "sk-123", "--token=abc", "--port", "8", "Bearer xyz"])
    assert repr(stdio) == "MCPToolset(\"srv --api-key '***' '--token=***' --port 8 '***'\")"
    http = MCPToolset.http("https://me:pw@mcp.example.com/mcp?token=t0p", headers={"Authorization": "Bearer q"})
    assert repr(http) == "MCPToolset('https://mcp.example.com/mcp')"


# --- lifecycle -------------------------------------------------------------------------------------


async def test_without_async_with_each_run_connects_and_leaves_no_process():
    agent = Agent(ScriptedModel([qw_call("pid"), "a", qw_call("pid"), "b"]), [sdk_stdio()])
    pids = []
    for _ in range(2):
        result = await agent.run("q")
        check_transcript(result.messages)
        pids.append(int(result.messages[2]["content"]))
        assert gone_soon(pids[-1]), "the server process outlived its run"
    assert pids[0] != pids[1]


async def test_an_entered_toolset_keeps_one_connection_for_many_runs():
    toolset = sdk_stdio()
    agent = Agent(ScriptedModel([qw_call("pid"), "a", qw_call("pid"), "b"]), [toolset])
    async with toolset:
        first = await agent.run("q")
        second = await agent.run("q")
        pid = int(first.messages[2]["content"])
        assert int(second.messages[2]["content"]) == pid
        assert alive(pid)
    assert gone_soon(pid)


async def test_cancelling_a_run_mid_call_is_prompt_and_leaves_no_child():
    model = ScriptedModel([qw_call("pid") + qw_call("slow", seconds=60), "never"])
    agent = Agent(model, [sdk_stdio()])
    seen: dict[str, str] = {}
    started = time.monotonic()
    with anyio.move_on_after(30) as outer:
        async with contextlib.aclosing(agent.stream("q")) as events:
            async for event in events:
                if isinstance(event, ToolCallFinished):
                    seen[event.call.name] = event.content
                if isinstance(event, ToolCallStarted) and event.call.name == "slow":
                    slow_started = time.monotonic()
                if "pid" in seen and "slow_started" in locals():
                    break  # leaving the stream cancels the run, with `slow` still running on the server
    assert not outer.cancelled_caught
    assert time.monotonic() - started < 25  # far below the 60 s the tool would take
    assert gone_soon(int(seen["pid"]))


async def test_cancelling_a_run_leaves_an_entered_toolset_usable():
    toolset = sdk_stdio()
    async with toolset:
        agent = Agent(ScriptedModel([qw_call("slow", seconds=60), "never"]), [toolset])
        async with contextlib.aclosing(agent.stream("q")) as events:
            async for event in events:
                if isinstance(event, ToolCallStarted):
                    await anyio.sleep(0.5)  # the request is out: the cancellation reaches a call in flight
                    break
        agent = Agent(ScriptedModel([qw_call("add", a=20, b=22), "ok"]), [toolset])
        result = await agent.run("q")
        assert result.messages[2]["content"] == "42"


async def test_cancelling_a_run_task_mid_call_raises_only_the_cancellation():
    model = ScriptedModel([qw_call("pid") + qw_call("slow", seconds=60), "never"])
    agent = Agent(model, [sdk_stdio()])
    pid: list[int] = []

    async with anyio.create_task_group() as tg:

        async def run():
            async for event in agent.stream("q"):
                if isinstance(event, ToolCallFinished) and event.call.name == "pid":
                    pid.append(int(event.content))
                    tg.cancel_scope.cancel()  # `slow` is running on the server now

        tg.start_soon(run)
    # Leaving the task group without an exception: the run raised nothing but the cancellation
    # (a cancel-scope RuntimeError or an exception group would have propagated here).
    assert pid and gone_soon(pid[0])


async def test_an_entered_toolset_may_be_left_from_another_task():
    toolset = sdk_stdio()
    stack = contextlib.AsyncExitStack()
    await stack.enter_async_context(toolset)
    pid = int(await (await toolset_tool(toolset, "pid")).acall({}))
    async with anyio.create_task_group() as tg:
        tg.start_soon(stack.aclose)  # another task than the one that entered it
    assert gone_soon(pid)


async def toolset_tool(toolset, name):
    return next(t for t in await toolset.list_tools() if t.name == name)


async def test_a_toolset_that_failed_to_open_can_be_opened_again():
    toolset = MCPToolset.stdio(sys.executable, ["-c", "import sys; sys.exit(5)"])
    for _ in range(2):  # the second time too: a ToolsetError, not "already open"
        with pytest.raises(ToolsetError, match="could not be connected"):
            async with toolset:
                pass


async def test_a_server_that_never_answers_a_call_times_out_with_tool_timeout():
    toolset = sdk_stdio()
    async with toolset:
        agent = Agent(ScriptedModel([qw_call("hang"), "gave up"]), [toolset], tool_timeout=1)
        done, result = await finished(agent, "q")
        assert done[0].error == "timed out after 1 s"
        check_transcript(result.messages)
        assert result.output == "gave up"
        # The connection survived the abandoned call.
        agent = Agent(ScriptedModel([qw_call("add", a=1, b=2), "ok"]), [toolset])
        assert (await agent.run("q")).messages[2]["content"] == "3"


async def test_a_server_that_crashes_mid_call_is_a_tool_failure_and_the_run_goes_on():
    # pid first, in a turn of its own: in one message the two calls would race the crash.
    model = ScriptedModel([qw_call("pid"), qw_call("crash"), "the server died"])
    done, result = await finished(Agent(model, [sdk_stdio()]), "q")
    check_transcript(result.messages)
    crash = next(e for e in done if e.call.name == "crash")
    assert crash.error is not None and "the MCP server failed on crash" in crash.error
    assert result.output == "the server died"
    assert gone_soon(int(next(e for e in done if e.call.name == "pid").content))


async def until(condition, seconds: float = 30.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.02)


async def pid_of_run(toolset: MCPToolset) -> int:
    result = await Agent(ScriptedModel([qw_call("pid"), "ok"]), [toolset]).run("q")
    return int(result.messages[2]["content"])


async def test_an_entered_toolset_connects_again_on_the_run_after_its_server_died(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="agentkit")
    starts = tmp_path / "starts"
    toolset = MCPToolset.stdio(sys.executable, [SDK_SERVER, "--gate", str(tmp_path)], connect_timeout=30)
    async with toolset:
        first = await pid_of_run(toolset)
        os.kill(first, signal.SIGKILL)
        # Its exit, then agentkit's noticing it (the pipe's end is read by the event loop).
        await until(lambda: not alive(first) and "lost its connection" in caplog.text)
        second = await pid_of_run(toolset)  # the run connected again: a new server
        assert second != first and alive(second)
        assert starts.read_text().split() == [str(first), str(second)]

        # A call in flight when the server dies is a failed call, never run again.
        ledger = tmp_path / "ledger"
        model = ScriptedModel([qw_call("note_and_crash", path=str(ledger)), "it died"])
        done, result = await finished(Agent(model, [toolset]), "q")
        check_transcript(result.messages)
        assert done[0].error is not None and "the MCP server failed on note_and_crash" in done[0].error
        assert result.output == "it died"

        # A server that cannot start again fails that run, after one try; the next run tries again.
        (tmp_path / "closed").touch()
        with pytest.raises(ToolsetError, match="could not be connected"):
            await Agent(ScriptedModel(["unused"]), [toolset]).run("q")
        assert len(starts.read_text().split()) == 3
        (tmp_path / "closed").unlink()
        third = await pid_of_run(toolset)
        assert third not in (first, second) and len(starts.read_text().split()) == 4
    assert gone_soon(third)
    assert ledger.read_text() == "noted\n"


async def test_a_server_that_cannot_start_is_a_toolset_error_before_any_model_call():
    model = ScriptedModel(["unused"])
    agent = Agent(model, [MCPToolset.stdio(sys.executable, ["-c", "import sys; sys.exit(5)"])])
    with pytest.raises(ToolsetError, match="could not be connected"):
        await agent.run("q")
    assert model.calls == []
    with pytest.raises(ToolsetError, match="could not be connected"):
        await Agent(model, [MCPToolset.stdio("/no/such/mcp-server")]).run("q")


async def test_a_server_that_never_finishes_the_handshake_times_out():
    script = "import time; print('not json', flush=True); time.sleep(60)"
    toolset = MCPToolset.stdio(sys.executable, ["-c", script], connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(ToolsetError, match="did not finish connecting in 2 s"):
        await Agent(ScriptedModel(["unused"]), [toolset]).run("q")
    assert time.monotonic() - started < 20


async def test_a_server_that_never_lists_its_tools_times_out():
    server = str(ROOT / "tests" / "mcp_servers" / "silent_lister.py")
    model = ScriptedModel(["unused"])
    # Connected first with time to spare (a loaded machine starts a Python child slowly); only
    # the listing then gets the short limit, which the same option bounds.
    toolset = MCPToolset.stdio(sys.executable, [server], connect_timeout=120)
    async with toolset:
        toolset.connect_timeout = 2
        with pytest.raises(ToolsetError, match="did not list its tools in 2 s"):
            await Agent(model, [toolset]).run("q")
    assert model.calls == []


async def test_the_tool_list_is_fetched_again_when_the_server_says_it_changed():
    async with sdk_stdio() as toolset:
        before = {t.name for t in await toolset.list_tools()}
        agent = Agent(ScriptedModel([qw_call("grow"), "grown"]), [toolset])
        await agent.run("q")
        with anyio.fail_after(10):
            while "extra" not in {t.name for t in await toolset.list_tools()}:
                await anyio.sleep(0.05)
    assert "extra" not in before


async def test_the_tool_list_is_fetched_again_after_a_legacy_notification():
    toolset = sdk_stdio()
    toolset._mode = "legacy"  # the pre-2026 handshake: the server notifies instead of publishing
    async with toolset:
        # The connection really is a legacy one: no subscription, only the notification tells.
        assert toolset._shared is not None and toolset._shared.client is not None
        assert toolset._shared.client.protocol_version < "2026"
        agent = Agent(ScriptedModel([qw_call("grow"), "grown"]), [toolset])
        await agent.run("q")
        with anyio.fail_after(10):
            while "extra" not in {t.name for t in await toolset.list_tools()}:
                await anyio.sleep(0.05)


# --- Streamable HTTP -------------------------------------------------------------------------------


def start_server(flag: str, path: str):
    port = free_port()
    proc = subprocess.Popen([sys.executable, SDK_SERVER, flag, str(port)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def http_server():
    yield from start_server("--http", "/mcp")


@pytest.fixture(scope="module")
def sse_server():
    yield from start_server("--sse", "/sse")


async def test_http_lists_and_calls_and_sends_the_headers_given(http_server):
    toolset = MCPToolset.http(http_server, headers={"Authorization": "Bearer t0ken"})
    model = ScriptedModel([qw_call("add", a=5, b=6) + qw_call("whoami") + qw_call("boom", what="x"), "ok"])
    done, result = await finished(Agent(model, [toolset]), "q")
    check_transcript(result.messages)
    contents = {e.call.name: e.content for e in done}
    assert contents == {"add": "11", "whoami": "Bearer t0ken", "boom": "Error: boom: x is not allowed"}


async def test_the_legacy_sse_transport(sse_server):
    toolset = MCPToolset.sse(sse_server, headers={"Authorization": "Bearer s3"})
    model = ScriptedModel([qw_call("add", a=1, b=1) + qw_call("whoami"), "ok"])
    done, result = await finished(Agent(model, [toolset]), "q")
    check_transcript(result.messages)
    assert {e.call.name: e.content for e in done} == {"add": "2", "whoami": "Bearer s3"}


async def test_an_entered_http_toolset_connects_again_after_its_server_restarted():
    port = free_port()

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, SDK_SERVER, "--http", str(port)], stderr=subprocess.DEVNULL)
        wait_for_port(port, proc)
        return proc

    proc = start()
    toolset = MCPToolset.http(f"http://127.0.0.1:{port}/mcp?token=s3cr3t-query", headers={"X-Key": "h3ader-t0ken"})
    try:
        async with toolset:
            first = await pid_of_run(toolset)
            proc.kill()
            proc.wait()
            # The server is down: the run fails, as a failed call (its error says no secret: the
            # model reads it), or, when the tool-list subscription's end came first and the list
            # was to be fetched again, as a ToolsetError (the run tried to connect again).
            model = ScriptedModel([qw_call("pid"), "down"])
            try:
                done, _ = await finished(Agent(model, [toolset]), "q")
            except ToolsetError as e:
                assert "could not be connected" in str(e) and secret_in(str(e)) is None
            else:
                assert done[0].error is not None and done[0].error.startswith("the MCP server failed on pid")
                assert secret_in(done[0].content) is None
            proc = start()
            assert await pid_of_run(toolset) == proc.pid != first  # the next run connected again
    finally:
        proc.kill()
        proc.wait()


async def test_a_legacy_http_session_the_restarted_server_does_not_know_is_connected_again():
    port = free_port()
    procs = [subprocess.Popen([sys.executable, SDK_SERVER, "--http", str(port)], stderr=subprocess.DEVNULL)]
    wait_for_port(port, procs[-1])
    toolset = MCPToolset.http(f"http://127.0.0.1:{port}/mcp")
    toolset._mode = "legacy"  # a session per connection (Mcp-Session-Id), which a restart forgets
    try:
        async with toolset:
            first = await pid_of_run(toolset)
            procs[-1].kill()
            procs[-1].wait()
            procs.append(subprocess.Popen([sys.executable, SDK_SERVER, "--http", str(port)], stderr=subprocess.DEVNULL))
            wait_for_port(port, procs[-1])
            # The new server answers the old session "Session not found": a failed call (not sent again)...
            done, _ = await finished(Agent(ScriptedModel([qw_call("pid"), "lost"]), [toolset]), "q")
            assert done[0].error == "the MCP server failed on pid: MCPError: Session not found"
            # ...and the next run opens a new session.
            assert await pid_of_run(toolset) == procs[-1].pid != first
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


async def test_http_to_a_port_nobody_listens_on_is_a_toolset_error():
    with pytest.raises(ToolsetError):
        await Agent(ScriptedModel(["unused"]), [MCPToolset.http(f"http://127.0.0.1:{free_port()}/mcp")]).run("q")


SECRETS = ("s3cr3t-query", "pa55word", "h3ader-t0ken")


def secret_in(text: str) -> str | None:
    return next((s for s in SECRETS if s in text), None)


@pytest.mark.parametrize("transport", ["sse", "http"])
@pytest.mark.parametrize("server", ["refuses", "closed port"])
async def test_a_failed_connection_names_no_secret_in_its_error_traceback_or_logs(transport, server, caplog):
    caplog.set_level(logging.DEBUG, logger="agentkit")
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(refusing_server()) if server == "refuses" else free_port()
        url = f"http://me:pa55word@127.0.0.1:{port}/mcp?token=s3cr3t-query&v=2"
        toolset = getattr(MCPToolset, transport)(url, headers={"Authorization": "Bearer h3ader-t0ken"},
                                                 connect_timeout=20)  # fmt: skip
        with pytest.raises(ToolsetError) as caught:
            await Agent(ScriptedModel(["unused"]), [toolset]).run("q")
    error = caught.value
    if server == "refuses":  # what went wrong is still said
        assert f"MCPToolset('http://127.0.0.1:{port}/mcp') refused authorization (HTTP 401" in str(error)
    else:
        assert f"MCPToolset('http://127.0.0.1:{port}/mcp') could not be connected" in str(error)
    everything = [str(error), repr(error), "".join(traceback.format_exception(error)), caplog.text, repr(toolset)]
    assert [secret_in(text) for text in everything] == [None] * len(everything), everything


# --- the reference server from PyPI -----------------------------------------------------------------


async def test_the_reference_time_server():
    pytest.importorskip("mcp_server_time")
    toolset = MCPToolset.stdio(sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"])
    model = ScriptedModel([qw_call("get_current_time", timezone="Europe/Warsaw")
                           + qw_call("convert_time", source_timezone="UTC", time="12:00", target_timezone="Asia/Tokyo"),
                           "done"])  # fmt: skip
    done, result = await finished(Agent(model, [toolset]), "q")
    check_transcript(result.messages)
    # By name: the two calls run concurrently and finish in either order.
    now, converted = (json.loads(next(e.content for e in done if e.call.name == n)) for n in ("get_current_time", "convert_time"))
    assert now["timezone"] == "Europe/Warsaw"
    assert converted["target"]["datetime"].endswith("T21:00:00+09:00")


# --- tracing -----------------------------------------------------------------------------------------

TRACED_RUN = r"""
import sys, anyio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from agentkit import Agent, tracing
from agentkit.mcp import MCPToolset
from agentkit.testing import ScriptedModel

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # the MCP SDK traces through the global provider
tracing.instrument(tracer_provider=provider)
call = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
agent = Agent(ScriptedModel([call, "3"]), [MCPToolset.stdio(sys.executable, [sys.argv[1]])])
agent.run_sync("q")
spans = exporter.get_finished_spans()
names = {s.context.span_id: s.name for s in spans}
for s in sorted(spans, key=lambda s: s.start_time):
    print(f"{s.name} <- {names.get(s.parent.span_id) if s.parent else None}")
"""


def test_an_mcp_calls_sdk_span_is_a_child_of_its_execute_tool_span():
    pytest.importorskip("opentelemetry.sdk")
    # Its own process: the SDK's spans go to the global tracer provider, which is set once per process.
    out = subprocess.run([sys.executable, "-c", TRACED_RUN, SDK_SERVER], capture_output=True, text=True, timeout=120)
    lines = out.stdout.splitlines()
    assert "execute_tool add <- invoke_agent" in lines, out.stdout + out.stderr
    # The SDK's span of the request, and those of the connection the run opened, are in the run's trace.
    assert "MCP send tools/call add <- execute_tool add" in lines, out.stdout
    assert "MCP send tools/list <- invoke_agent" in lines, out.stdout


# --- the example ---------------------------------------------------------------------------------------


def test_the_example_runs_offline_on_the_demo_model_with_its_weather_tools_over_mcp():
    pytest.importorskip("transformers")
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "mcp_agent.py")], capture_output=True, text=True,
                         timeout=280, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "tools from MCP servers: get_current_temperature, get_temperature_date" in out.stdout
    assert "26.1" in out.stdout.split("assistant:")[-1] and "25.9" in out.stdout.split("assistant:")[-1]


def test_the_example_with_a_server_adds_the_time_servers_tools():
    pytest.importorskip("mcp_server_time")
    from tests.scripted_server import Reply, ScriptedServer, call, chunk

    now = call("get_current_time", {"timezone": "Asia/Tokyo"})
    with ScriptedServer() as server:
        server.script(Reply(chunks=[chunk({"role": "assistant", "tool_calls": [now]}, finish="tool_calls")]),
                      Reply(chunks=[chunk({"role": "assistant", "content": "Here is the time."}, finish="stop")]))  # fmt: skip
        out = subprocess.run([sys.executable, str(ROOT / "examples" / "mcp_agent.py"), "--base-url", server.url,
                              "What time is it in Tokyo?"], capture_output=True, text=True, timeout=280, cwd=ROOT)  # fmt: skip
        offered = [t["function"]["name"] for t in server.requests[0]["tools"]]
        sent_back = json.loads(server.requests[1]["messages"][-1]["content"])
    assert out.returncode == 0, out.stderr
    assert offered == ["get_current_temperature", "get_temperature_date", "get_current_time", "convert_time"]
    assert sent_back["timezone"] == "Asia/Tokyo"
    assert "assistant: Here is the time." in out.stdout


def test_the_redactor_hides_a_secret_in_every_spelling_a_message_may_use():
    from agentkit._redact import Redactor

    hide = Redactor.for_url("https://u:p%40ss-word@h.example/mcp?key=a%2Fb-c0de&v=2", {"X-Api-Key": "k-value"})
    said = hide("GET https://u:p%40ss-word@h.example/mcp?key=a%2Fb-c0de&v=2 with p@ss-word, a/b-c0de, k-value")
    assert said == "GET https://h.example/mcp with ***, ***, ***"
    command = Redactor.for_command(["--api-key", "sk-1", "--token=t0k", "plain"], {"MY_TOKEN": "env-s3cret"})
    assert command("sk-1 t0k env-s3cret plain") == "*** *** *** plain"


async def test_a_result_that_breaks_its_output_schema_fails_one_call_and_keeps_the_connection(tmp_path):
    # The SDK client refuses `bad`'s result (RuntimeError): a failed call, not a lost connection,
    # so `pay`, running on the same connection, still gets its real result to the model.
    server = str(ROOT / "tests" / "mcp_servers" / "bad_output.py")
    toolset = MCPToolset.stdio(sys.executable, [server, str(tmp_path)], connect_timeout=30)
    model = ScriptedModel([qw_call("pid"), qw_call("pay", amount=500) + qw_call("bad"), qw_call("pid"), "done"])
    finished = {}
    with anyio.fail_after(60):
        async with toolset:
            async for event in Agent(model, [toolset], tool_timeout=30).stream("Pay 500 and check."):
                if isinstance(event, ToolCallFinished):
                    finished.setdefault(event.call.name, []).append(event)
                    if event.call.name == "bad":
                        (tmp_path / "go").touch()  # only now may `pay` answer
    said = "bad ran, but its result was refused: Invalid structured content"
    assert finished["bad"][0].error.startswith(said) and finished["bad"][0].content.startswith(f"Error: {said}")
    assert (finished["pay"][0].content, finished["pay"][0].error) == ("paid 500", None)
    assert (tmp_path / "ledger").read_text().split() == ["500"]
    before, after = (int(e.content) for e in finished["pid"])
    assert before == after  # the same connection and server process all along


def _chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("error", "lost"),
    [(anyio.ClosedResourceError(), True), (anyio.BrokenResourceError(), True), (anyio.EndOfStream(), True),
     (EOFError(), True), (BrokenPipeError(), True), (_chained(RuntimeError("x"), ConnectionResetError()), True),
     (RuntimeError("Invalid structured content returned by tool bad"), False), (ValueError("bad"), False),
     (KeyError("x"), False)],
)  # fmt: skip
def test_only_a_lost_transport_counts_as_a_lost_connection(error, lost):
    from agentkit.mcp._failures import connection_lost as _connection_lost

    assert _connection_lost(error) is lost
    httpx2 = pytest.importorskip("httpx2")
    assert _connection_lost(httpx2.ConnectError("refused")) is True
    assert _connection_lost(httpx2.HTTPStatusError("500", request=None, response=None)) is False  # type: ignore[arg-type]


async def test_a_stdio_server_starts_while_stderr_is_not_a_file(monkeypatch):
    # The SDK's stdio client takes, by default, the stderr it saw when it was imported: with it
    # imported under a stand-in (an in-process CLI test, a notebook), every server failed to start.
    import io

    import mcp.client.stdio as sdk_module

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(sdk_module.stdio_client.__wrapped__, "__defaults__", (sys.stderr,))
    async with sdk_stdio() as toolset:
        assert [t.name for t in await toolset.list_tools()]


# --- names and checks of a server's tools ----------------------------------------------------------

ODD_NAMES = str(ROOT / "tests" / "mcp_servers" / "odd_names.py")


def _hash8(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()[:8]


async def test_server_names_outside_the_rule_are_mapped_to_unique_valid_ones_and_called_by_their_own():
    toolset = MCPToolset.stdio(sys.executable, [ODD_NAMES])
    async with toolset:
        tools = {t.description.removeprefix("the tool "): t.name for t in await toolset.list_tools()}
    add, weather = f"math_add_{_hash8('math.add')}", f"get_weather_{_hash8('get weather')}"
    assert tools == {"math.add": add, "math_add": "math_add", "get weather": weather,
                     "x" * 70: "x" * 55 + "_" + _hash8("x" * 70), "x" * 64: "x" * 64}  # fmt: skip
    model = ScriptedModel([qw_call(add, n=1.0) + qw_call(weather, n=2) + qw_call("math_add", n=3), "ok"])
    _, result = await finished(Agent(model, [toolset]), "q")
    check_transcript(result.messages)
    said = [json.loads(m["content"]) for m in result.messages if m["role"] == "tool"]
    assert said == [{"name": "math.add", "arguments": {"n": 1}}, {"name": "get weather", "arguments": {"n": 2}},
                    {"name": "math_add", "arguments": {"n": 3}}]  # fmt: skip


async def test_a_mapped_name_does_not_depend_on_the_servers_other_names_and_a_name_listed_twice_is_offered_once(
    caplog,
):
    # Attacker review of issue 30 (#6, #13): `files.delete` was `files_delete` until the server added its own
    # `files_delete`, and an approved call then ran that one; a name listed twice made every run a UserError.
    from agentkit.mcp._naming import model_name

    assert model_name("files.delete") == f"files_delete_{_hash8('files.delete')}" != "files_delete"
    toolset = MCPToolset.stdio(sys.executable, [ODD_NAMES, "--twice"])
    model = ScriptedModel([qw_call("math_add", n=3), "ok"])
    _, result = await finished(Agent(model, [toolset]), "q")
    assert json.loads(result.messages[2]["content"]) == {"name": "math_add", "arguments": {"n": 3}}
    assert "lists two tools named 'math_add'" in caplog.text


async def test_an_mcp_tool_refuses_unknown_arguments_and_converts_whole_numbers():
    model = ScriptedModel([qw_call("add", a=2.0, b=3, c=1) + qw_call("add", a=2.0, b=3), "ok"])
    done, _ = await finished(Agent(model, [sdk_stdio()]), "q")
    assert done[0].content == "Error: Invalid arguments for add:\n- unknown argument 'c'; add takes: a, b"
    assert done[1].content == "5" and done[1].error is None
