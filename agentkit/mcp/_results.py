"""What the model reads of an MCP tool's result."""

from __future__ import annotations

import json
from typing import Any

from .._tool_runner import MAX_IMAGE_BYTES, MAX_IMAGES, WithImages
from ..exceptions import ToolError

try:
    from mcp.types import (
        AudioContent,
        CallToolResult,
        EmbeddedResource,
        ImageContent,
        ResourceLink,
        TextContent,
        TextResourceContents,
    )
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

__all__ = ["result_value"]


def result_value(
    result: CallToolResult,
    *,
    output_schema: dict[str, Any] | None = None,
    max_image_bytes: int | None = MAX_IMAGE_BYTES,
    max_images: int | None = MAX_IMAGES,
) -> Any:
    """What the model reads of an MCP result: its text, with a short placeholder for audio, a
    resource link (described, never fetched) and a binary resource; its images (also embedded
    ones) as `WithImages` parts (the loop sends them to a model that takes images, within
    `max_image_bytes` and `max_images`). When the tool declares `output_schema`, the structured
    content (which the SDK checked against it) is what the model reads, unless the text already
    says the same. An ``isError`` result raises `ToolError`."""
    parts: list[str] = []
    images: list[dict[str, Any]] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, ImageContent):
            parts.append(f"[image: {block.mime_type}, {_decoded_size(block.data)} bytes]")
            images.append(_image_part(block.mime_type, block.data))
        elif isinstance(block, AudioContent):
            parts.append(f"[audio: {block.mime_type}, {_decoded_size(block.data)} bytes]")
        elif isinstance(block, ResourceLink):
            parts.append(_link(block))
        elif isinstance(block, EmbeddedResource):
            parts.append(_embedded(block, images))
    if result.is_error:
        raise ToolError("\n".join(parts) or "the tool failed (the server gave no message)")
    text = "\n".join(parts)
    value: Any = text
    structured = result.structured_content
    if structured is not None and (output_schema is not None or not parts):
        value = text if _says(text, structured) else json.loads(json.dumps(structured))
    if images:
        if value is not text:  # the structured JSON, and a line per image
            text = "\n".join([json.dumps(value, ensure_ascii=False), *(p for p in parts if p.startswith("[image: "))])
        return WithImages(text=text, images=tuple(images), max_image_bytes=max_image_bytes, max_images=max_images)
    return value


def _says(text: str, structured: Any) -> bool:
    """Whether `text` says what `structured` does: its JSON, or the value the SDK's servers wrap
    as ``{"result": value}`` for a tool that returns a plain value."""
    if not text:
        return False
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    return parsed == structured or (isinstance(structured, dict) and structured.keys() == {"result"}
                                    and structured["result"] in (parsed, text))  # fmt: skip


def _image_part(mime_type: str, data: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"data:{mime_type};base64,{data}"}}


def _link(block: ResourceLink) -> str:
    """A resource link as the model reads it: what it is, never its contents."""
    about = f" ({block.mime_type})" if block.mime_type else ""
    said = f": {block.description}" if block.description else ""
    return f"[resource link: {block.name} <{block.uri}>{about}{said}; not fetched]"


def _embedded(block: EmbeddedResource, images: list[dict[str, Any]]) -> str:
    """An embedded resource: its text, or an image part, or a placeholder for other bytes."""
    resource = block.resource
    if isinstance(resource, TextResourceContents):
        return resource.text
    mime = resource.mime_type or "application/octet-stream"
    data = getattr(resource, "blob", "")
    if mime.startswith("image/"):
        images.append(_image_part(mime, data))
        return f"[image: {mime}, {_decoded_size(data)} bytes, from {resource.uri}]"
    return f"[resource: {resource.uri} ({mime}, {_decoded_size(data)} bytes)]"


def _decoded_size(data: str) -> int:
    if not data:
        return 0
    return len(data) * 3 // 4 - data[-2:].count("=")
