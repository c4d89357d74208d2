"""Toolsets as the loop sees them: `SchemaTool` (a tool described by a JSON Schema) and
`open_tools` (a run's tools from functions and toolsets), with a toolset written here."""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager

import pytest

from agentkit import Agent, ToolArgumentsError, UserError, tool
from agentkit._toolsets import SchemaTool, Toolset, open_tools
from agentkit.testing import ScriptedModel, check_transcript

from .agent_helpers import qw_call

pytestmark = pytest.mark.anyio


async def echo(arguments: dict) -> dict:
    return arguments


REF_SCHEMA = {
    "type": "object",
    "$ref": "#/$defs/Args",
    "$defs": {"Args": {"type": "object", "properties": {"town": {"type": "string"}}, "required": ["town"],
                       "additionalProperties": False}},
}  # fmt: skip


async def test_arguments_are_checked_against_the_schema_as_given_and_passed_as_one_dict():
    t = SchemaTool(name="t", description="d", parameters=REF_SCHEMA, call=echo)
    assert await t.acall('{"town": "Oslo"}') == {"town": "Oslo"}
    with pytest.raises(ToolArgumentsError) as missing:
        await t.acall({})
    assert missing.value.problems == ["missing required argument 'town'"]
    with pytest.raises(ToolArgumentsError) as extra:
        await t.acall({"town": "Oslo", "when": "now"})
    assert extra.value.problems == ["unknown argument 'when'; t takes: town"]
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        await t.acall("{town")


async def test_formats_are_checked_and_the_tool_is_described_as_given():
    schema = {"type": "object", "properties": {"day": {"type": "string", "format": "date"}}}
    t = SchemaTool(name="when", description="Pick a day.", parameters=schema, call=echo, requires_approval=True)
    assert t.schema == {"type": "function", "function": {"name": "when", "description": "Pick a day.", "parameters": schema}}
    assert (t.requires_approval, t.takes_context) == (True, False)
    assert await t.acall({"day": "2024-02-29"}) == {"day": "2024-02-29"}
    with pytest.raises(ToolArgumentsError, match='day: "2024-02-30" is not a "date"'):
        await t.acall({"day": "2024-02-30"})


async def test_a_schema_with_no_properties_takes_any_object_and_one_that_cannot_be_read_checks_nothing():
    free = SchemaTool(name="free", description="", parameters={"type": "object"}, call=echo)
    assert await free.acall({"anything": [1, 2]}) == {"anything": [1, 2]}
    broken = SchemaTool(name="broken", description="", parameters={"type": "object", "properties": 5}, call=echo)
    assert await broken.acall({"x": 1}) == {"x": 1}  # the server checks its own arguments
    assert broken.schema["function"]["parameters"] == {"type": "object", "properties": 5}


class Listed:
    """A toolset written here: its tools exist only between open and close."""

    def __init__(self, *tools):
        self.tools = tools
        self.opened = self.closed = 0

    @asynccontextmanager
    async def tools_for_run(self):
        self.opened += 1
        try:
            yield list(self.tools)
        finally:
            self.closed += 1


def shout(text: str) -> str:
    """Shout.

    Args:
        text: What to shout.
    """
    return text.upper()


async def test_a_runs_tools_are_the_functions_then_each_toolsets_and_each_toolset_is_closed():
    listed = Listed(SchemaTool(name="echo", description="", parameters={"type": "object"}, call=echo))
    assert isinstance(listed, Toolset)
    async with AsyncExitStack() as stack:
        tools = await open_tools({"shout": tool(shout)}, [listed], stack)
        assert list(tools) == ["shout", "echo"]
        assert (listed.opened, listed.closed) == (1, 0)
    assert listed.closed == 1


async def test_an_agent_runs_a_toolsets_tools_like_functions_and_closes_it_after_each_run():
    listed = Listed(SchemaTool(name="echo", description="", parameters={"type": "object"}, call=echo))
    model = ScriptedModel([qw_call("echo", x=1) + qw_call("shout", text="hi"), "done", "again"])
    agent = Agent(model, [shout, listed])
    result = await agent.run("q")
    check_transcript(result.messages)
    assert [m["content"] for m in result.messages[2:4]] == ['{"x": 1}', "HI"]
    assert set(model.calls[0].tools) == {"echo", "shout"}
    await agent.run("q")
    assert (listed.opened, listed.closed) == (2, 2)


async def test_a_name_clash_names_both_sources_and_closes_what_was_opened():
    first = Listed(SchemaTool(name="shout", description="", parameters={"type": "object"}, call=echo))
    second = Listed(SchemaTool(name="echo", description="", parameters={"type": "object"}, call=echo))
    third = Listed(SchemaTool(name="echo", description="", parameters={"type": "object"}, call=echo))
    agent = Agent(ScriptedModel(["unused"]), [shout, first])
    with pytest.raises(UserError) as clash:
        await agent.run("q")
    assert str(clash.value) == (f"two tools are named 'shout' (from a function and {first!r}): "
                                "give a toolset a prefix, or include/exclude tools")  # fmt: skip
    with pytest.raises(UserError, match=f"two tools are named 'echo' \\(from {second!r} and {third!r}\\)"):
        await Agent(ScriptedModel(["unused"]), [second, third]).run("q")
    assert first.closed == first.opened == 1


async def test_a_toolset_tool_named_final_result_clashes_with_a_typed_output():
    clash = Listed(SchemaTool(name="final_result", description="", parameters={"type": "object"}, call=echo))
    agent = Agent(ScriptedModel(["unused"]), [clash], output_type=int)
    with pytest.raises(UserError, match="final_result"):
        await agent.run("q")
