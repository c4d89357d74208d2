"""What the model reads of an MCP tool's result."""

from __future__ import annotations

import json
from typing import Any

from .._tool_runner import MAX_IMAGE_BYTES, MAX_IMAGES, WithImages
from ..exceptions import ToolError

try:
    from mcp.types import AudioContent, CallToolResult, EmbeddedResource, ImageContent, ResourceLink, TextContent
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

__all__ = ["result_value"]


def result_value(
    result: CallToolResult, *, max_image_bytes: int | None = MAX_IMAGE_BYTES, max_images: int | None = MAX_IMAGES
) -> Any:
    """What the model reads of an MCP result: its text (structured content as JSON when it has no
    text; a short placeholder for images, audio and links), and its images as `WithImages` parts
    (the loop sends them to a model that takes images, within `max_image_bytes` and `max_images`).
    An ``isError`` result raises `ToolError`."""
    parts: list[str] = []
    images: list[dict[str, Any]] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, (ImageContent, AudioContent)):
            kind = "image" if isinstance(block, ImageContent) else "audio"
            parts.append(f"[{kind}: {block.mime_type}, {_decoded_size(block.data)} bytes]")
            if isinstance(block, ImageContent):
                url = f"data:{block.mime_type};base64,{block.data}"
                images.append({"type": "image_url", "image_url": {"url": url}})
        elif isinstance(block, ResourceLink):
            parts.append(f"[resource: {block.uri}]")
        elif isinstance(block, EmbeddedResource):
            text = getattr(block.resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource: {block.resource.uri}]")
    if result.is_error:
        raise ToolError("\n".join(parts) or "the tool failed (the server gave no message)")
    if images:
        return WithImages(
            text="\n".join(parts), images=tuple(images), max_image_bytes=max_image_bytes, max_images=max_images
        )
    if parts:
        return "\n".join(parts)
    if result.structured_content is not None:
        return json.loads(json.dumps(result.structured_content))
    return ""


def _decoded_size(data: str) -> int:
    return len(data) * 3 // 4 - data[-2:].count("=")
