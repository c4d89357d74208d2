"""agentkit tools named and shaped as the MCP conformance suite's server scenarios ask
(``@modelcontextprotocol/conformance``: `test_simple_text`, `test_image_content`, ...), served by
`agentkit mcp serve tests.mcp_servers.conformance_tools:TOOLS --http 127.0.0.1:PORT`.

Each is written as an agentkit user would write it: plain returns, `agentkit.mcp.Image`/`Audio`/
`EmbeddedResource`, and `RunContext.mcp` for progress, logging, sampling and elicitation; and the suite's resources and
prompts, with `resource` and `prompt`, all in `SERVER`."""

from __future__ import annotations

import json
import struct
import zlib

import anyio

from agentkit import RunContext, Tool, ToolError, tool
from agentkit.mcp import Audio, EmbeddedResource, Image, prompt, resource, server


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


@resource("test://static-text", mime_type="text/plain")
def static_text() -> str:
    """A static text resource."""
    return "This is the content of the static text resource."


@resource("test://static-binary", mime_type="image/png")
def static_binary() -> bytes:
    """A static binary resource (a PNG)."""
    return PNG


@resource("test://template/{id}/data", mime_type="application/json")
def template_data(id: str) -> str:
    """Data for an id."""
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@resource("test://watched-resource", mime_type="text/plain")
async def watched() -> str:
    """A resource clients may subscribe to."""
    return "Watched resource content."


@prompt
def test_simple_prompt() -> str:
    """A simple prompt without arguments."""
    return "This is a simple prompt for testing."


@prompt
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    """A prompt with two arguments.

    Args:
        arg1: First test argument.
        arg2: Second test argument.
    """
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@prompt
def test_prompt_with_embedded_resource(resourceUri: str) -> list[object]:
    """A prompt that embeds a resource.

    Args:
        resourceUri: URI of the resource to embed.
    """
    return [EmbeddedResource(resourceUri, "Embedded resource content for testing.", "text/plain"),
            "Please process the embedded resource above."]  # fmt: skip


@prompt
def test_prompt_with_image() -> list[object]:
    """A prompt with an image."""
    return [Image(PNG, "image/png"), "Please analyze the image above."]


RESOURCES = [static_text, static_binary, template_data, watched]
PROMPTS = [test_simple_prompt, test_prompt_with_arguments, test_prompt_with_embedded_resource, test_prompt_with_image]
SERVER = server(TOOLS, name="agentkit-conformance", resources=RESOURCES, prompts=PROMPTS)
