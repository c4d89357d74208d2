"""Resources, resource templates, prompts and completion a server offers (`resource`, `prompt`,
``server(..., resources=, prompts=)``), as the MCP SDK's own client sees them, in process and
from `agentkit mcp serve MODULE:SERVER` over stdio."""

from __future__ import annotations

import base64
import enum
import sys
from pathlib import Path
from typing import Literal

import pytest

from agentkit import UserError

mcp = pytest.importorskip("mcp")
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402
from mcp.types import PromptReference, ResourceTemplateReference  # noqa: E402

from agentkit.mcp import Image, prompt, resource, server  # noqa: E402

from .mcp_servers.conformance_tools import PNG, PROMPTS, RESOURCES, TOOLS  # noqa: E402

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
MODES = ["legacy", "auto"]


def offering(**options):
    return server(TOOLS, resources=RESOURCES, prompts=PROMPTS, **options)


@pytest.mark.parametrize("mode", MODES)
async def test_resources_are_listed_and_read(mode):
    async with Client(offering(), cache=None, mode=mode) as client:
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        assert set(listed) == {"test://static-text", "test://static-binary", "test://watched-resource"}
        assert (listed["test://static-text"].name, listed["test://static-text"].description) == (
            "static_text", "A static text resource.")  # fmt: skip
        assert listed["test://static-binary"].mime_type == "image/png"
        templates = (await client.list_resource_templates()).resource_templates
        assert [(t.uri_template, t.mime_type) for t in templates] == [("test://template/{id}/data", "application/json")]
        text = (await client.read_resource("test://static-text")).contents
        assert [(c.uri, c.text) for c in text] == [
            ("test://static-text", "This is the content of the static text resource.")
        ]
        blob = (await client.read_resource("test://static-binary")).contents[0]
        assert base64.b64decode(blob.blob) == PNG
        data = (await client.read_resource("test://template/a%20b/data")).contents[0]
        assert (data.uri, data.text) == (
            "test://template/a%20b/data",
            '{"id": "a b", "templateTest": true, "data": "Data for ID: a b"}',
        )


async def test_a_uri_nobody_offers_or_a_failing_reader_is_an_mcp_error():
    @resource("mem://broken")
    def broken() -> str:
        """Fails."""
        raise OSError("disk gone")

    async with Client(server([], resources=[*RESOURCES, broken]), cache=None, mode="legacy") as client:
        with pytest.raises(MCPError, match="no resource has the URI 'test://nothing'"):
            await client.read_resource("test://nothing")
        with pytest.raises(MCPError, match="no resource has the URI 'test://template/1/2/data'"):
            await client.read_resource("test://template/1/2/data")  # one variable is one path segment
        with pytest.raises(MCPError, match="reading mem://broken failed: OSError: disk gone"):
            await client.read_resource("mem://broken")
        await client.subscribe_resource("test://watched-resource")  # accepted: no error
        await client.unsubscribe_resource("test://watched-resource")
        with pytest.raises(MCPError, match="no resource has the URI"):
            await client.subscribe_resource("test://nothing")


def test_a_template_and_its_function_must_agree():
    with pytest.raises(UserError, match=r"has the variables \['id'\], but 'f' takes \['key'\]"):

        @resource("x://{id}")
        def f(key: str) -> str:
            return key

    with pytest.raises(UserError, match="two resources have the URI 'test://static-text'"):
        server([], resources=[RESOURCES[0], RESOURCES[0]])


@pytest.mark.parametrize("mode", MODES)
async def test_prompts_are_listed_and_got_with_text_images_and_resources(mode):
    async with Client(offering(), cache=None, mode=mode) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(listed) == {"test_simple_prompt", "test_prompt_with_arguments",
                               "test_prompt_with_embedded_resource", "test_prompt_with_image"}  # fmt: skip
        arguments = listed["test_prompt_with_arguments"].arguments
        assert [(a.name, a.description, a.required) for a in arguments] == [
            ("arg1", "First test argument.", True), ("arg2", "Second test argument.", True)]  # fmt: skip
        got = await client.get_prompt("test_prompt_with_arguments", {"arg1": "hello", "arg2": "world"})
        assert [(m.role, m.content.text) for m in got.messages] == [
            ("user", "Prompt with arguments: arg1='hello', arg2='world'")]  # fmt: skip
        image = (await client.get_prompt("test_prompt_with_image")).messages
        assert [m.content.type for m in image] == ["image", "text"]
        assert base64.b64decode(image[0].content.data) == PNG
        embedded = (await client.get_prompt("test_prompt_with_embedded_resource", {"resourceUri": "x://r"})).messages
        assert (embedded[0].content.resource.uri, embedded[0].content.resource.text) == (
            "x://r", "Embedded resource content for testing.")  # fmt: skip


class Tone(enum.Enum):
    FORMAL = "formal"
    FRIENDLY = "friendly"


@prompt(name="letter")
async def write_letter(to: str, tone: Tone, language: Literal["en", "fr", "fi"] = "en") -> list:
    """A letter.

    Args:
        to: Who gets it.
        tone: How it sounds.
        language: Which language.
    """
    return [{"role": "assistant", "content": f"Dear {to} ({tone}, {language}),"}, Image(PNG, "image/png")]


async def test_arguments_are_checked_and_typed_ones_completed():
    async with Client(server([], prompts=[write_letter]), cache=None, mode="legacy") as client:
        got = await client.get_prompt("letter", {"to": "Ada", "tone": "formal"})
        assert [(m.role, m.content.type) for m in got.messages] == [("assistant", "text"), ("user", "image")]
        assert got.messages[0].content.text == "Dear Ada (formal, en),"
        with pytest.raises(MCPError, match="missing required argument 'tone'; unknown argument 'mood'"):
            await client.get_prompt("letter", {"to": "Ada", "mood": "x"})
        with pytest.raises(MCPError, match=r"tone='rude' \(one of \['formal', 'friendly'\]\)"):
            await client.get_prompt("letter", {"to": "Ada", "tone": "rude"})
        with pytest.raises(MCPError, match="there is no prompt named 'nope'"):
            await client.get_prompt("nope")
        ref = PromptReference(name="letter")
        assert (await client.complete(ref, {"name": "language", "value": "f"})).completion.values == ["fr", "fi"]
        assert (await client.complete(ref, {"name": "tone", "value": ""})).completion.values == ["formal", "friendly"]
        assert (await client.complete(ref, {"name": "to", "value": "A"})).completion.values == []
        template = ResourceTemplateReference(uri="test://template/{id}/data")
        assert (await client.complete(template, {"name": "id", "value": "1"})).completion.values == []


async def test_a_server_of_tools_only_offers_no_resources_or_prompts():
    async with Client(server(TOOLS), cache=None, mode="legacy") as client:
        capabilities = client.server_capabilities
        assert (capabilities.resources, capabilities.prompts, capabilities.completions) == (None, None, None)
        assert capabilities.tools is not None and capabilities.logging is not None


async def test_agentkit_mcp_serve_serves_a_server_object_over_stdio():
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "agentkit", "mcp", "serve", "tests.mcp_servers.conformance_tools:SERVER"],
                                   cwd=str(ROOT), env={"PYTHONPATH": str(ROOT)})  # fmt: skip
    async with Client(params, cache=None) as client:
        assert client.server_info.name == "agentkit-conformance"
        assert (await client.read_resource("test://static-text")).contents[0].text.startswith("This is the content")
        assert len((await client.list_prompts()).prompts) == 4
        assert (await client.call_tool("test_simple_text", {})).content[0].text.startswith("This is a simple text")
