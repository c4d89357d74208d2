"""What a served tool may return besides text: images, audio and embedded resources, alone or in
a list mixed with text, and how each becomes an MCP content block."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcp.types import (
    AudioContent,
    BlobResourceContents,
    ContentBlock,
    ImageContent,
    TextContent,
    TextResourceContents,
)
from mcp.types import (
    EmbeddedResource as MCPEmbeddedResource,
)

from .._tool_runner import render_result
from ..exceptions import UserError

__all__ = ["Audio", "EmbeddedResource", "Image", "block", "content_blocks"]


@dataclass(frozen=True)
class Image:
    """An image a served tool returns: an MCP ``image`` content block."""

    data: bytes
    """The image file's bytes (sent base64-encoded)."""
    mime_type: str
    """Its media type, as ``image/png``."""

    def __post_init__(self) -> None:
        _check(self, self.data, self.mime_type)


@dataclass(frozen=True)
class Audio:
    """Audio a served tool returns: an MCP ``audio`` content block."""

    data: bytes
    """The audio file's bytes (sent base64-encoded)."""
    mime_type: str
    """Its media type, as ``audio/wav``."""

    def __post_init__(self) -> None:
        _check(self, self.data, self.mime_type)


@dataclass(frozen=True)
class EmbeddedResource:
    """A resource's contents a served tool returns: an MCP ``resource`` content block."""

    uri: str
    """The resource's URI (any scheme: it names the contents, nothing is fetched)."""
    data: str | bytes
    """Its contents: text (sent as is) or bytes (sent base64-encoded, as a blob)."""
    mime_type: str | None = None
    """Its media type, when known."""

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri:
            raise UserError(f"an EmbeddedResource needs a URI (a non-empty str), not {self.uri!r}")
        if not isinstance(self.data, (str, bytes, bytearray)):
            raise UserError(f"an EmbeddedResource's data is text or bytes, not {type(self.data).__name__}")
        if self.mime_type is not None and not isinstance(self.mime_type, str):
            raise UserError(f"a mime_type is a str, not {type(self.mime_type).__name__}")


def _check(item: Any, data: Any, mime_type: Any) -> None:
    # Caught when the tool makes it, where the mistake is, not when the server encodes it.
    kind = type(item).__name__
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UserError(f"an {kind}'s data is the file's bytes, not {type(data).__name__}")
    if not isinstance(mime_type, str) or not mime_type:
        raise UserError(f"an {kind} needs a mime_type (a str, as 'image/png'), not {mime_type!r}")


_RICH = (Image, Audio, EmbeddedResource)


def content_blocks(value: Any) -> list[ContentBlock] | None:
    """The content blocks of a tool's return value when it is rich (an `Image`, `Audio`,
    `EmbeddedResource`, or a list or tuple holding at least one), else None: the value is
    then sent as its text, as any other. In a list, each other item is a text block of its own."""
    if isinstance(value, _RICH):
        return [block(value)]
    if isinstance(value, (list, tuple)) and any(isinstance(item, _RICH) for item in value):
        return [block(item) for item in value]
    return None


def block(item: Any) -> ContentBlock:
    """One content block: an `Image`, `Audio` or `EmbeddedResource` as its kind, anything else as text."""
    if isinstance(item, Image):
        return ImageContent(data=_b64(item.data), mime_type=item.mime_type)
    if isinstance(item, Audio):
        return AudioContent(data=_b64(item.data), mime_type=item.mime_type)
    if isinstance(item, EmbeddedResource):
        contents: TextResourceContents | BlobResourceContents
        if isinstance(item.data, str):
            contents = TextResourceContents(uri=item.uri, text=item.data, mime_type=item.mime_type)
        else:
            contents = BlobResourceContents(uri=item.uri, blob=_b64(item.data), mime_type=item.mime_type)
        return MCPEmbeddedResource(resource=contents)
    return TextContent(text=render_result(item))


def _b64(data: bytes | Sequence[int]) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")
