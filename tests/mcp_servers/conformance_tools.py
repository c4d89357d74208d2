"""agentkit tools named and shaped as the MCP conformance suite's server scenarios ask
(``@modelcontextprotocol/conformance``: `test_simple_text`, `test_image_content`, ...), served by
`agentkit mcp serve tests.mcp_servers.conformance_tools:TOOLS --http 127.0.0.1:PORT`.

Each is written as an agentkit user would write it: plain returns, `agentkit.mcp.Image`/`Audio`/
`EmbeddedResource`, and `RunContext.mcp` for progress, logging, sampling and elicitation."""

from __future__ import annotations

import json
import struct
import zlib

import anyio

from agentkit import RunContext, Tool, ToolError, tool
from agentkit.mcp import Audio, EmbeddedResource, Image


def _png_1x1_red() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + \
        chunk(b"IEND", b"")  # fmt: skip


def _wav_silence() -> bytes:
    frames = b"\x00\x00" * 80  # 10 ms of 8 kHz 16-bit mono
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + \
        struct.pack("<I", len(frames)) + frames  # fmt: skip


PNG = _png_1x1_red()
WAV = _wav_silence()


@tool
def test_simple_text() -> str:
    """Returns simple text."""
    return "This is a simple text response for testing."


@tool
def test_image_content() -> Image:
    """Returns an image (a 1x1 red PNG)."""
    return Image(PNG, "image/png")


@tool
def test_audio_content() -> Audio:
    """Returns audio (10 ms of silence, WAV)."""
    return Audio(WAV, "audio/wav")


@tool
def test_embedded_resource() -> EmbeddedResource:
    """Returns an embedded text resource."""
    return EmbeddedResource("test://embedded-resource", "This is an embedded resource content.", "text/plain")


@tool
def test_multiple_content_types() -> list[object]:
    """Returns text, an image and an embedded resource."""
    data = json.dumps({"test": "data", "value": 123})
    return ["Multiple content types test:", Image(PNG, "image/png"),
            EmbeddedResource("test://mixed-content-resource", data, "application/json")]  # fmt: skip


@tool
async def test_tool_with_logging(ctx: RunContext[None]) -> str:
    """Sends three log messages while it runs."""
    await ctx.mcp.log("info", "Tool execution started")
    await anyio.sleep(0.05)  # the scenario asks for messages spread over the call
    await ctx.mcp.log("info", "Tool processing data")
    await anyio.sleep(0.05)
    await ctx.mcp.log("info", "Tool execution completed")
    return "Logging test completed"


@tool
async def test_tool_with_progress(ctx: RunContext[None]) -> str:
    """Reports progress 0, 50 and 100 of 100."""
    for step in (0, 50, 100):
        await ctx.mcp.progress(step, total=100)
        if step < 100:
            await anyio.sleep(0.05)  # the scenario asks for notifications spread over the call
    return "Progress test completed"


@tool
def test_error_handling() -> str:
    """Always fails."""
    raise ToolError("This tool intentionally returns an error for testing")


@tool
async def test_sampling(ctx: RunContext[None], prompt: str) -> str:
    """Asks the client's model.

    Args:
        prompt: The prompt to send to the LLM.
    """
    return "LLM response: " + await ctx.mcp.sample(prompt, max_tokens=100)


ELICIT = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "description": "User's response"},
        "email": {"type": "string", "description": "User's email address"},
    },
    "required": ["username", "email"],
}


@tool
async def test_elicitation(ctx: RunContext[None], message: str) -> str:
    """Asks the user (elicitation).

    Args:
        message: The message to show the user.
    """
    answer = await ctx.mcp.elicit(message, ELICIT)
    return f"User response: action={'accept' if answer is not None else 'decline'}, content={json.dumps(answer)}"


DEFAULTS = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
        "verified": {"type": "boolean", "default": True},
    },
}


@tool
async def test_elicitation_sep1034_defaults(ctx: RunContext[None]) -> str:
    """Asks for a form whose every field has a default."""
    answer = await ctx.mcp.elicit("Please review your details", DEFAULTS)
    return (
        f"Elicitation completed: action={'accept' if answer is not None else 'decline'}, content={json.dumps(answer)}"
    )


ENUMS = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {"type": "string", "oneOf": [{"const": "value1", "title": "First Option"},
                                                     {"const": "value2", "title": "Second Option"},
                                                     {"const": "value3", "title": "Third Option"}]},
        "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                       "enumNames": ["Option One", "Option Two", "Option Three"]},
        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
        "titledMulti": {"type": "array", "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
                                                             {"const": "value2", "title": "Second Choice"},
                                                             {"const": "value3", "title": "Third Choice"}]}},
    },
}  # fmt: skip


@tool
async def test_elicitation_sep1330_enums(ctx: RunContext[None]) -> str:
    """Asks for a form with every kind of enum."""
    answer = await ctx.mcp.elicit("Please pick your options", ENUMS)
    return (
        f"Elicitation completed: action={'accept' if answer is not None else 'decline'}, content={json.dumps(answer)}"
    )


@tool
async def test_reconnection(ctx: RunContext[None]) -> str:
    """Closes its SSE stream mid-call (where the transport can), then answers: the client
    gets the answer by reconnecting with Last-Event-ID."""
    close = ctx.mcp.context.close_sse_stream
    if close is not None:
        await close()
    await anyio.sleep(0.1)  # the answer must come after the stream was closed, to be replayed
    return "Reconnection test completed"


JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}


def _echo(**arguments: object) -> str:
    return json.dumps(arguments)


json_schema_2020_12_tool = Tool.from_schema(
    "json_schema_2020_12_tool", JSON_SCHEMA_2020_12, _echo, description="Tool with JSON Schema 2020-12 features"
)

TOOLS = [
    test_simple_text, test_image_content, test_audio_content, test_embedded_resource, test_multiple_content_types,
    test_tool_with_logging, test_tool_with_progress, test_error_handling, test_sampling, test_elicitation,
    test_elicitation_sep1034_defaults, test_elicitation_sep1330_enums, test_reconnection, json_schema_2020_12_tool,
]  # fmt: skip
