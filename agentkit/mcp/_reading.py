"""An MCP server's resources and prompts as the client reads them: read, got, and offered to the model as a tool."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .._model import Message
from ..exceptions import ToolError
from ..tools import SchemaTool
from ._naming import model_name

try:
    from mcp.types import (
        AudioContent,
        BlobResourceContents,
        EmbeddedResource,
        ImageContent,
        ResourceLink,
        TextContent,
        TextResourceContents,
    )
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

__all__ = ["LISTED_IN_DESCRIPTION", "contents_value", "prompt_messages", "reader_tool"]

LISTED_IN_DESCRIPTION = 50
"""The most resources the ``read_resource`` tool's description names."""


def contents_value(contents: Sequence[Any]) -> str | bytes:
    """A read resource: its text (the texts joined when it has several parts), or its bytes when
    its only part is binary."""
    if len(contents) == 1 and isinstance(contents[0], BlobResourceContents):
        return _bytes(contents[0].blob)
    texts = []
    for part in contents:
        if isinstance(part, TextResourceContents):
            texts.append(part.text)
        else:
            texts.append(f"[{part.mime_type or 'binary'}: {len(_bytes(part.blob))} bytes, {part.uri}]")
    return "\n".join(texts)


def prompt_messages(messages: Sequence[Any]) -> list[Message]:
    """A got prompt's messages as OpenAI messages: text as a string; images as parts of a user message."""
    out: list[Message] = []
    for message in messages:
        block = message.content
        if isinstance(block, TextContent):
            out.append({"role": message.role, "content": block.text})
        elif isinstance(block, ImageContent) and message.role == "user":
            url = f"data:{block.mime_type};base64,{block.data}"
            out.append({"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]})
        elif isinstance(block, EmbeddedResource) and isinstance(block.resource, TextResourceContents):
            out.append({"role": message.role, "content": block.resource.text})
        elif isinstance(block, ResourceLink):
            out.append({"role": message.role, "content": f"[resource link: {block.name} <{block.uri}>; not fetched]"})
        else:
            kind = "audio" if isinstance(block, AudioContent) else getattr(block, "type", "content")
            out.append({"role": message.role, "content": f"[{kind} left out]"})
    return out


def reader_tool(prefix: str | None, listed: Sequence[Any], read: Callable[[str], Awaitable[str | bytes]]) -> SchemaTool:
    """The ``read_resource`` tool (``prefix_read_resource`` with a prefix): the model names a URI
    (its description lists the first `LISTED_IN_DESCRIPTION` resources) and reads its text."""
    lines = [f"- {r.uri}: {r.name}" + (f" ({r.description})" if r.description else "") for r in listed]
    shown = "\n".join(lines[:LISTED_IN_DESCRIPTION])
    more = f"\n(and {len(lines) - LISTED_IN_DESCRIPTION} more)" if len(lines) > LISTED_IN_DESCRIPTION else ""
    description = f"Read one of the server's resources by its URI. Resources:\n{shown}{more}"

    async def call(arguments: dict[str, Any]) -> Any:
        value = await read(arguments["uri"])
        if isinstance(value, bytes):
            return f"[binary resource: {len(value)} bytes]"
        return value

    return SchemaTool(
        name=model_name(f"{prefix}_read_resource" if prefix else "read_resource"),
        description=description,
        parameters={
            "type": "object",
            "properties": {"uri": {"type": "string", "description": "The resource's URI."}},
            "required": ["uri"],
            "additionalProperties": False,
        },
        call=call,
    )


def _bytes(blob: str) -> bytes:
    try:
        return base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ToolError(f"the server sent a resource whose bytes are not base64: {e}") from None
