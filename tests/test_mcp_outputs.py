"""A tool's result the MCP SDK refuses, or whose output schema cannot be checked (agentkit.mcp._outputs),
against a server written with the SDK (tests/mcp_servers/refused_results.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp")
from agentkit import ToolError
from agentkit.mcp import MCPToolset

pytestmark = pytest.mark.anyio
SERVER = str(Path(__file__).resolve().parent / "mcp_servers" / "refused_results.py")


@pytest.fixture
async def tools():
    toolset = MCPToolset.stdio(sys.executable, [SERVER])
    async with toolset:
        yield {t.name: t for t in await toolset.list_tools()}


@pytest.mark.parametrize("name", ["wrong", "missing"])
async def test_a_refused_result_says_the_tool_ran_not_that_the_server_failed(tools, name):
    with pytest.raises(ToolError) as caught:
        await tools[name].acall({})
    said = str(caught.value)
    assert f"{name} ran" in said and "refused" in said and "server failed" not in said
    assert "\x1b" not in said


async def test_an_output_schema_whose_references_loop_is_left_unchecked_with_a_warning(tools, caplog):
    assert await tools["loop"].acall({}) == '{"n": 1}'
    assert "not checked" in caplog.text and "loop" in caplog.text
