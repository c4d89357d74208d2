"""agentkit tools served over MCP, checked with the MCP SDK's own client (in process, over stdio
from `agentkit mcp serve`, and over Streamable HTTP)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import agentkit
from agentkit import Agent, UserError
from agentkit.testing import ScriptedModel, check_transcript

from .agent_helpers import qw_call
from .mcp_servers import free_port, wait_for_port

mcp = pytest.importorskip("mcp")
from mcp import Client, StdioServerParameters  # noqa: E402

from agentkit.mcp import MCPToolset, server  # noqa: E402

from .mcp_servers.agentkit_tools import GUARDED, TOOLS, multiply  # noqa: E402

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
SPEC = "tests.mcp_servers.agentkit_tools:TOOLS"
GUARDED_SPEC = "tests.mcp_servers.agentkit_tools:GUARDED"


def texts(result) -> str:
    return "\n".join(block.text for block in result.content)


def serve_args(*extra: str) -> list[str]:
    return ["-m", "agentkit", "mcp", "serve", *extra]


def child_env() -> dict[str, str]:
    return {"PYTHONPATH": str(ROOT)}


async def test_the_sdk_client_sees_the_exact_schemas_and_gets_results_and_errors_as_is_error():
    async with Client(server(TOOLS, name="calc"), cache=None) as client:
        assert (client.server_info.name, client.server_info.version) == ("calc", agentkit.__version__)
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert set(listed) == {"multiply", "refuse", "explode"}
        for t in TOOLS:
            assert listed[t.name].input_schema == t.parameters
            assert listed[t.name].description == t.description
        ok = await client.call_tool("multiply", {"a": 6, "b": 7})
        assert (ok.is_error, texts(ok)) == (False, "42")
        bad = await client.call_tool("multiply", {"a": "six"})
        assert bad.is_error
        assert (
            texts(bad)
            == 'Invalid arguments for multiply:\n- a: "six" is not of type "integer"\n- missing required argument \'b\''
        )
        refused = await client.call_tool("refuse", {"reason": "policy"})
        assert (refused.is_error, texts(refused)) == (True, "refused: policy")
        exploded = await client.call_tool("explode", {})
        assert (exploded.is_error, texts(exploded)) == (
            True,
            "the tool explode raised RuntimeError: the disk is on fire",
        )
        unknown = await client.call_tool("divide", {"a": 1})
        assert (
            unknown.is_error
            and texts(unknown) == "there is no tool named 'divide'; the tools are: multiply, refuse, explode"
        )


async def test_plain_functions_and_structured_returns():
    def facts(n: int) -> dict:
        """Facts about a number.

        Args:
            n: The number.
        """
        return {"n": n, "even": n % 2 == 0}

    def opaque() -> object:
        """Returns something JSON cannot hold: sent as its str."""
        return object()

    async with Client(server([facts, opaque]), cache=None) as client:
        result = await client.call_tool("facts", {"n": 4})
        assert texts(result) == '{"n": 4, "even": true}'
        opaque_result = await client.call_tool("opaque", {})
        assert not opaque_result.is_error and texts(opaque_result).startswith("<object object at 0x")
    async with Client(server([]), cache=None) as client:
        assert texts(await client.call_tool("any", {})) == "there is no tool named 'any'; the tools are: none"


def test_two_tools_with_one_name_are_refused():
    with pytest.raises(UserError, match="two tools are named 'multiply'"):
        server([multiply, multiply])


async def test_agentkit_mcp_serve_over_stdio_to_the_sdk_client():
    params = StdioServerParameters(command=sys.executable, args=serve_args(SPEC), cwd=str(ROOT), env=child_env())
    async with Client(params, cache=None) as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"multiply", "refuse", "explode"}
        assert texts(await client.call_tool("multiply", {"a": 3, "b": 4})) == "12"


async def test_the_agentkit_console_script_imports_from_the_current_directory():
    script = Path(sys.executable).parent / "agentkit"
    if not script.exists():
        pytest.skip("no agentkit console script next to this Python (not installed)")
    # No PYTHONPATH: `tests.mcp_servers` is found only because the current directory is searched.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    params = StdioServerParameters(command=str(script), args=["mcp", "serve", SPEC], cwd=str(ROOT), env=env)
    async with Client(params, cache=None) as client:
        assert texts(await client.call_tool("multiply", {"a": 2, "b": 21})) == "42"


async def test_agentkit_mcp_serve_an_agents_tools():
    spec = "tests.mcp_servers.agentkit_tools:AGENT"
    params = StdioServerParameters(command=sys.executable, args=serve_args(spec), cwd=str(ROOT), env=child_env())
    async with Client(params, cache=None) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["multiply"]


async def test_agentkit_mcp_serve_over_http_to_the_sdk_client():
    port = free_port()
    proc = subprocess.Popen([sys.executable, *serve_args(SPEC, "--http", f"127.0.0.1:{port}")], cwd=ROOT,
                            env={**os.environ, **child_env()})  # fmt: skip
    try:
        wait_for_port(port, proc)
        async with Client(f"http://127.0.0.1:{port}/mcp", cache=None) as client:
            assert texts(await client.call_tool("multiply", {"a": 5, "b": 5})) == "25"
            assert (await client.call_tool("explode", {})).is_error
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_an_agent_uses_agentkit_tools_through_mcp_both_ways():
    toolset = MCPToolset.stdio(sys.executable, serve_args(SPEC), cwd=ROOT, env=child_env(), prefix="remote")
    model = ScriptedModel([qw_call("remote_multiply", a=9, b=9) + qw_call("remote_refuse", reason="no"), "81"])
    result = await Agent(model, [toolset]).run("q")
    check_transcript(result.messages)
    assert [m["content"] for m in result.messages[2:4]] == ["81", "Error: refused: no"]


NOT_RUN = ("the tool pay was not run: it needs the user's approval, and the MCP client does not offer elicitation "
           "(it did not declare the capability)")  # fmt: skip


async def refused_payment(client: Client, ledger: Path) -> None:
    assert {t.name for t in (await client.list_tools()).tools} == {"multiply", "pay"}
    result = await client.call_tool("pay", {"amount": 500, "ledger": str(ledger)})
    assert (result.is_error, texts(result)) == (True, NOT_RUN)
    assert texts(await client.call_tool("multiply", {"a": 2, "b": 3})) == "6"  # the others still run


async def test_a_tool_that_needs_approval_is_refused_and_never_runs_in_process(tmp_path):
    ledger = tmp_path / "ledger"
    async with Client(server(GUARDED), cache=None) as client:
        await refused_payment(client, ledger)
    assert not ledger.exists()


async def test_a_tool_that_needs_approval_is_refused_and_never_runs_over_stdio(tmp_path):
    ledger = tmp_path / "ledger"
    params = StdioServerParameters(command=sys.executable, args=serve_args(GUARDED_SPEC), cwd=str(ROOT),
                                   env=child_env())  # fmt: skip
    async with Client(params, cache=None) as client:
        await refused_payment(client, ledger)
    assert not ledger.exists()


async def test_a_tool_that_needs_approval_is_refused_and_never_runs_over_http(tmp_path):
    ledger = tmp_path / "ledger"
    port = free_port()
    proc = subprocess.Popen([sys.executable, *serve_args(GUARDED_SPEC, "--http", f"127.0.0.1:{port}")], cwd=ROOT,
                            env={**os.environ, **child_env()})  # fmt: skip
    try:
        wait_for_port(port, proc)
        async with Client(f"http://127.0.0.1:{port}/mcp", cache=None) as client:
            await refused_payment(client, ledger)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not ledger.exists()
    # The ledger is written when the tool does run: the check above could see a payment.
    await GUARDED[1].acall({"amount": 1, "ledger": str(ledger)})
    assert ledger.read_text() == "1\n"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("no_such_module_here:TOOLS", "cannot import 'no_such_module_here'"),
        ("tests.mcp_servers.agentkit_tools:MISSING", "has no attribute 'MISSING'"),
        ("tests.mcp_servers.agentkit_tools:NOT_TOOLS", "is of type int, not a tool"),
        ("no-colon", "is not MODULE:ATTR"),
    ],
)
def test_a_bad_spec_is_one_line_and_status_2(spec, expected):
    proc = subprocess.run([sys.executable, *serve_args(spec)], cwd=ROOT, env={**os.environ, **child_env()},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentkit mcp: ") and expected in lines[0], proc.stderr


HOOKED_SPEC = "tests.mcp_servers.agentkit_tools:HOOKED"
OVER = "the tool spend was not run: not approved: over the limit of 100"


async def hooked_spending(client: Client, ledger: Path) -> None:
    over = await client.call_tool("spend", {"amount": 500, "ledger": str(ledger)})
    assert (over.is_error, texts(over)) == (True, OVER)
    assert not ledger.exists()
    ok = await client.call_tool("spend", {"amount": 50, "ledger": str(ledger)})
    assert (ok.is_error, texts(ok)) == (False, "spent 50")
    assert ledger.read_text() == "50\n"


async def test_an_approve_hook_decides_every_served_call_in_process(tmp_path):
    from .mcp_servers.agentkit_tools import HOOKED

    async with Client(server(HOOKED.tools.values(), approve=HOOKED.approve), cache=None) as client:
        await hooked_spending(client, tmp_path / "ledger")


async def test_agentkit_mcp_serve_an_agent_keeps_its_approve_hook(tmp_path):
    params = StdioServerParameters(command=sys.executable, args=serve_args(HOOKED_SPEC), cwd=str(ROOT),
                                   env=child_env())  # fmt: skip
    async with Client(params, cache=None) as client:
        await hooked_spending(client, tmp_path / "ledger")


@pytest.mark.parametrize("hook", ["raises", "async"])
async def test_a_hook_that_fails_refuses_and_an_async_hook_is_awaited(tmp_path, hook):
    from .mcp_servers.agentkit_tools import spend

    async def deny(call):
        return False

    def broken(call):
        raise RuntimeError("the policy server is down")

    ledger = tmp_path / "ledger"
    async with Client(server([spend], approve=broken if hook == "raises" else deny), cache=None) as client:
        result = await client.call_tool("spend", {"amount": 1, "ledger": str(ledger)})
    said = "the approval check failed" if hook == "raises" else "not approved: denied"
    assert (result.is_error, texts(result)) == (True, f"the tool spend was not run: {said}")
    assert not ledger.exists()


async def test_a_hook_that_does_not_decide_in_time_refuses(tmp_path):
    from .mcp_servers.agentkit_tools import spend

    async def never(call):
        await anyio.sleep_forever()

    ledger = tmp_path / "ledger"
    async with Client(server([spend], approve=never, approval_timeout=0.1), cache=None) as client:
        result = await client.call_tool("spend", {"amount": 1, "ledger": str(ledger)})
    assert (result.is_error, texts(result)) == (True, "the tool spend was not run: it was not approved in time (0.1 s)")
    assert not ledger.exists()


async def test_the_approve_hook_is_asked_only_about_arguments_that_pass_the_check(tmp_path):
    from .mcp_servers.agentkit_tools import spend

    asked: list[str] = []

    def approve(call):
        asked.append(call.arguments)
        return True

    async with Client(server([spend], approve=approve), cache=None) as client:
        bad = await client.call_tool("spend", {"amount": "lots", "ledger": str(tmp_path / "ledger")})
        assert bad.is_error and texts(bad).startswith("Invalid arguments for spend:")
        assert asked == [] and not (tmp_path / "ledger").exists()
        ok = await client.call_tool("spend", {"amount": 5, "ledger": str(tmp_path / "ledger")})
        assert (ok.is_error, texts(ok)) == (False, "spent 5") and len(asked) == 1


# --- the command line, as a newcomer hits it (issue 29) ----------------------------------------


def test_http_on_a_port_out_of_range_is_one_line_and_status_2():
    proc = subprocess.run([sys.executable, *serve_args(SPEC, "--http", "127.0.0.1:99999")], cwd=ROOT,
                          env={**os.environ, **child_env()}, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["agentkit mcp: cannot listen on 127.0.0.1:99999: a port is 0 to 65535"]


def test_http_on_a_taken_port_says_so_as_web_does():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, *serve_args(SPEC, "--http", f"127.0.0.1:{port}")], cwd=ROOT,
                              env={**os.environ, **child_env()}, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"agentkit mcp: cannot listen on 127.0.0.1:{port}: Address already in use"]
