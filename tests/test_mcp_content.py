"""What a served tool returns, as the MCP SDK's own client receives it: image, audio and
embedded-resource blocks, lists mixing them with text, structured content with an output schema
from a typed return, titles and annotations, and hand-set schemas served as they are."""

from __future__ import annotations

import base64
import dataclasses

import pydantic
import pytest
from typing_extensions import TypedDict

from agentkit import Tool, ToolDefinitionError, UserError, tool

mcp = pytest.importorskip("mcp")
from mcp import Client  # noqa: E402

from agentkit.mcp import Audio, EmbeddedResource, Image, server  # noqa: E402

from .mcp_servers.conformance_tools import JSON_SCHEMA_2020_12, PNG, TOOLS, WAV  # noqa: E402

pytestmark = pytest.mark.anyio


async def test_images_audio_and_resources_are_content_blocks_of_their_own():
    async with Client(server(TOOLS), cache=None) as client:
        image = (await client.call_tool("test_image_content", {})).content
        assert [(b.type, b.mime_type, base64.b64decode(b.data)) for b in image] == [("image", "image/png", PNG)]
        audio = (await client.call_tool("test_audio_content", {})).content
        assert [(b.type, b.mime_type, base64.b64decode(b.data)) for b in audio] == [("audio", "audio/wav", WAV)]
        embedded = (await client.call_tool("test_embedded_resource", {})).content
        assert [(b.type, b.resource.uri, b.resource.mime_type, b.resource.text) for b in embedded] == [
            ("resource", "test://embedded-resource", "text/plain", "This is an embedded resource content.")
        ]
        mixed = (await client.call_tool("test_multiple_content_types", {})).content
        assert [b.type for b in mixed] == ["text", "image", "resource"]
        assert mixed[0].text == "Multiple content types test:"
        assert mixed[2].resource.text == '{"test": "data", "value": 123}'


async def test_binary_resources_are_blobs_and_other_list_items_text_blocks():
    @tool
    def report() -> list:
        """A report."""
        return [{"rows": 2}, 7, EmbeddedResource("file:///r.bin", b"\x00\x01\xff", "application/octet-stream")]

    @tool
    def plain_list() -> list:
        """A list without rich items: one JSON text, as before."""
        return [1, "two"]

    async with Client(server([report, plain_list]), cache=None) as client:
        blocks = (await client.call_tool("report", {})).content
        assert [b.type for b in blocks] == ["text", "text", "resource"]
        assert (blocks[0].text, blocks[1].text) == ('{"rows": 2}', "7")
        assert base64.b64decode(blocks[2].resource.blob) == b"\x00\x01\xff"
        plain = (await client.call_tool("plain_list", {})).content
        assert [(b.type, b.text) for b in plain] == [("text", '[1, "two"]')]


def test_rich_values_refuse_what_cannot_be_sent():
    with pytest.raises(UserError, match="data is the file's bytes, not str"):
        Image("aGk=", "image/png")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="needs a mime_type"):
        Audio(b"RIFF", "")
    with pytest.raises(UserError, match="needs a URI"):
        EmbeddedResource("", "text")


class Weather(pydantic.BaseModel):
    city: str
    celsius: float


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Totals(TypedDict):
    count: int
    names: list[str]


@tool
def weather(city: str) -> Weather:
    """The weather.

    Args:
        city: Where.
    """
    return Weather(city=city, celsius=21.5)


@tool
def point() -> Point:
    """A point."""
    return Point(x=1, y=2)


@tool
def totals() -> Totals:
    """Totals."""
    return {"count": 2, "names": ["a", "b"]}


@tool
def liar() -> Point:
    """Declares a Point, returns something else."""
    return "not a point"  # type: ignore[return-value]


async def test_a_typed_return_gets_an_output_schema_and_structured_content():
    async with Client(server([weather, point, totals, liar, multiply_plain]), cache=None) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert listed["weather"].output_schema == Weather.model_json_schema()
        assert listed["point"].output_schema["properties"] == {"x": {"title": "X", "type": "integer"},
                                                               "y": {"title": "Y", "type": "integer"}}  # fmt: skip
        assert listed["totals"].output_schema["required"] == ["count", "names"]
        assert listed["multiply_plain"].output_schema is None  # an int is no object: text only
        result = await client.call_tool("weather", {"city": "Oslo"})
        assert result.structured_content == {"city": "Oslo", "celsius": 21.5}
        assert [b.text for b in result.content] == ['{"city": "Oslo", "celsius": 21.5}']
        assert (await client.call_tool("point", {})).structured_content == {"x": 1, "y": 2}
        assert (await client.call_tool("totals", {})).structured_content == {"count": 2, "names": ["a", "b"]}
        wrong = await client.call_tool("liar", {})
        assert wrong.is_error and wrong.content[0].text.startswith(
            "the tool liar returned a value that cannot be sent (the tool liar returned str, not the Point it declares"
        )


@tool
def multiply_plain(a: int, b: int) -> int:
    """Multiply.

    Args:
        a: One.
        b: Two.
    """
    return a * b


async def test_titles_and_annotations_are_listed_with_mcp_names():
    @tool(title="Delete a file", annotations={"destructiveHint": True, "idempotentHint": True})
    def delete(path: str) -> str:
        """Delete a file.

        Args:
            path: Which.
        """
        return path

    async with Client(server([delete, multiply_plain]), cache=None) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert listed["delete"].title == "Delete a file"
        assert listed["delete"].annotations.destructive_hint is True
        assert listed["delete"].annotations.idempotent_hint is True
        assert listed["delete"].annotations.read_only_hint is None
        assert (listed["multiply_plain"].title, listed["multiply_plain"].annotations) == (None, None)


def test_annotations_are_mcps_four_hints_as_booleans():
    with pytest.raises(ToolDefinitionError, match="unknown tool annotations \\['readonly'\\]"):
        tool(annotations={"readonly": True})(multiply_plain.function)
    with pytest.raises(ToolDefinitionError, match="is a bool, not 'yes'"):
        Tool.from_schema("t", {"type": "object"}, lambda: 1, annotations={"readOnlyHint": "yes"})


async def test_a_hand_set_schema_is_served_as_is_and_checked():
    async with Client(server(TOOLS), cache=None) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert listed["json_schema_2020_12_tool"].input_schema == JSON_SCHEMA_2020_12
        ok = await client.call_tool("json_schema_2020_12_tool", {"name": "A", "address": {"city": "Oslo"}})
        assert (ok.is_error, ok.content[0].text) == (False, '{"name": "A", "address": {"city": "Oslo"}}')
        extra = await client.call_tool("json_schema_2020_12_tool", {"name": "A", "age": 3})
        assert extra.is_error and "age" in extra.content[0].text
        nested = await client.call_tool("json_schema_2020_12_tool", {"address": {"city": 5}})
        assert nested.is_error and "city" in nested.content[0].text


def test_a_blob_keeps_its_mime_type_and_the_refusals_name_the_kind_and_type():
    from agentkit.mcp._content import block

    blob = block(EmbeddedResource("file:///r.bin", b"\x00", "application/octet-stream"))
    assert blob.resource.mime_type == "application/octet-stream"
    with pytest.raises(UserError, match="an Image's data is the file's bytes, not str"):
        Image("x", "image/png")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="an Audio needs a mime_type"):
        Audio(b"x", None)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="an EmbeddedResource's data is text or bytes, not int"):
        EmbeddedResource("file:///x", 5)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="a mime_type is a str, not int"):
        EmbeddedResource("file:///x", "text", 5)  # type: ignore[arg-type]
    assert EmbeddedResource("file:///x", "text").mime_type is None  # left out is fine
