"""agentkit's MCP client against the protocol's reference server, `@modelcontextprotocol/server-everything`
(npm, pinned in tools/mcp_node.py), over stdio and Streamable HTTP: its sampling, elicitation, roots,
resources, prompts, progress and annotated tools. Skipped when npm cannot install it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit import Agent, ToolCallFinished, ToolProgress
from agentkit.testing import ScriptedModel, check_transcript

from .agent_helpers import qw_call
from .mcp_servers import free_port, wait_for_port

pytest.importorskip("mcp")
from agentkit.mcp import MCPToolset

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import mcp_node  # noqa: E402


@pytest.fixture(scope="module")
def node() -> Path:
    try:
        return mcp_node.ensure()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"server-everything could not be installed from npm: {e}")


@pytest.fixture(scope="module")
def http_url(node):
    port = free_port()
    env = {**mcp_node.env(node), "PORT": str(port)}
    proc = subprocess.Popen([str(mcp_node.bin_path("mcp-server-everything", node)), "streamableHttp"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=["stdio", "http"])
def everything(request, node):
    """A function making a toolset on server-everything over the transport (options as MCPToolset's)."""
    if request.param == "stdio":
        command = str(mcp_node.bin_path("mcp-server-everything", node))
        path = mcp_node.env(node)["PATH"]
        return lambda **kw: MCPToolset.stdio(command, ["stdio"], env={"PATH": path}, **kw)
    url = request.getfixturevalue("http_url")
    return lambda **kw: MCPToolset.http(url, **kw)


async def run(toolset: MCPToolset, *calls: str) -> tuple[list[ToolCallFinished], list]:
    model = ScriptedModel(["".join(calls), "done"])
    events = [e async for e in Agent(model, [toolset], tool_timeout=60).stream("q")]
    check_transcript(events[-1].result.messages)
    return [e for e in events if isinstance(e, ToolCallFinished)], events


async def test_sampling(everything):
    sampler = ScriptedModel(["Paris."])
    done, _ = await run(
        everything(sampling=sampler), qw_call("trigger-sampling-request", prompt="Capital?", maxTokens=9)
    )
    assert done[0].error is None and "Paris." in done[0].content
    (call,) = sampler.calls
    assert call.options["max_tokens"] == 9 and call.messages[0] == {
        "role": "system",
        "content": "You are a helpful test server.",
    }
    assert "Capital?" in call.messages[1]["content"]


async def test_elicitation(everything):
    asked = []

    async def elicit(message, schema):
        asked.append(schema)
        return {"name": "Ada Lovelace", "check": True, "email": "ada@example.org"}

    done, _ = await run(everything(elicit=elicit), qw_call("trigger-elicitation-request"))
    assert asked and asked[0]["required"] == ["name"]
    assert done[0].error is None and "Ada Lovelace" in done[0].content
    assert "It was a dark and stormy night." in done[0].content  # a default the answer left out, filled in


async def test_roots(everything, tmp_path):
    done, _ = await run(everything(roots=[tmp_path]), qw_call("get-roots-list"))
    assert done[0].error is None and tmp_path.resolve().as_uri() in done[0].content


async def test_resources(everything):
    async with everything(offer_resources=True) as toolset:
        resources = await toolset.list_resources()
        static = [r for r in resources if str(r.uri).startswith("demo://resource/static/document/")]
        assert static and all(r.name for r in static)
        text = await toolset.read_resource(str(static[0].uri))
        assert isinstance(text, str) and text
        assert (
            "demo://resource/static/document/"
            in {t.name: t for t in await toolset.list_tools()}["read_resource"].description
        )


async def test_prompts(everything):
    async with everything() as toolset:
        prompts = {p.name: p for p in await toolset.list_prompts()}
        assert {"simple-prompt", "args-prompt"} <= set(prompts)
        assert [a.name for a in prompts["args-prompt"].arguments] == ["city", "state"]
        messages = await toolset.get_prompt("args-prompt", {"city": "Oslo"})
    assert messages[0]["role"] == "user" and "Oslo" in messages[0]["content"]


async def test_progress(everything):
    done, events = await run(everything(), qw_call("trigger-long-running-operation", duration=0.3, steps=3))
    progress = [e for e in events if isinstance(e, ToolProgress)]
    assert done[0].error is None
    assert [(e.progress, e.total) for e in progress] == [(1, 3), (2, 3), (3, 3)]


async def test_annotated_tools(everything):
    async with everything(requires_approval="destructive") as toolset:
        tools = {t.name: t for t in await toolset.list_tools()}
    assert tools["get-sum"].annotations["readOnlyHint"] is True and tools["get-sum"].title
    assert not tools["get-sum"].requires_approval  # read-only
    assert not tools["toggle-simulated-logging"].requires_approval  # destructiveHint: false
    structured, _ = await run(everything(), qw_call("get-structured-content", location="New York"))
    assert json.loads(structured[0].content)["temperature"] is not None
