"""Resources a server offers: `resource(uri)` makes a function (sync or async) the reader of one
URI, or of every URI matching a template (``notes://{name}``: its variables are the function's
arguments). What it returns is the contents: text, or bytes (a blob)."""

from __future__ import annotations

import base64
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote

import anyio.to_thread
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INTERNAL_ERROR,
    BlobResourceContents,
    EmptyResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ReadResourceResult,
    ResourceTemplate,
    TextResourceContents,
)
from mcp.types import Resource as MCPResource

from ..exceptions import UserError

__all__ = ["RESOURCE_NOT_FOUND", "Resource", "Resources", "resource"]

RESOURCE_NOT_FOUND = -32002
"""MCP's error code for a URI the server has no resource for."""
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(kw_only=True)
class Resource:
    """A resource (or a template of resources) a server offers; made by `resource`."""

    uri: str
    """Its URI, or a URI template with ``{name}`` variables (each matches one path segment)."""
    function: Callable[..., Any] = field(repr=False)
    """What reads it: called with the template's variables as keyword arguments (strings)."""
    name: str
    """Its name, as clients list it."""
    description: str = ""
    """What it holds."""
    mime_type: str | None = None
    """Its contents' media type, when known."""
    variables: tuple[str, ...] = ()
    """The template's variables (none for a plain resource)."""
    pattern: re.Pattern[str] | None = field(default=None, repr=False)
    """What a URI of the template looks like (None for a plain resource)."""

    async def read(self, arguments: dict[str, str]) -> str | bytes:
        """The contents, from the function (a sync one runs in a worker thread)."""
        if inspect.iscoroutinefunction(self.function):
            value = await self.function(**arguments)
        else:
            value = await anyio.to_thread.run_sync(lambda: self.function(**arguments), abandon_on_cancel=True)
            if inspect.isawaitable(value):
                value = await value
        if not isinstance(value, (str, bytes, bytearray)):
            raise TypeError(f"the resource {self.name} returned {type(value).__name__}, not str or bytes")
        return value if isinstance(value, str) else bytes(value)


def resource(
    uri: str, *, name: str | None = None, description: str | None = None, mime_type: str | None = None
) -> Callable[[Callable[..., Any]], Resource]:
    """Make a function the reader of the resource at `uri`, or of every URI matching it when it
    is a template (``weather://{city}/today``: the function takes ``city``). The function
    returns the contents: a str (text) or bytes (sent base64-encoded). `name` defaults to the
    function's name, `description` to its docstring's first paragraph. Raises `UserError` when
    the template's variables are not exactly the function's parameters."""

    def decorate(function: Callable[..., Any]) -> Resource:
        variables = tuple(_VARIABLE.findall(uri))
        parameters = tuple(inspect.signature(function).parameters)
        if set(variables) != set(parameters) or len(set(variables)) != len(variables):
            raise UserError(
                f"the resource {uri!r} has the variables {list(variables)}, "
                f"but {getattr(function, '__name__', function)!r} takes {list(parameters)}: they must match"
            )
        doc = inspect.getdoc(function) or ""
        return Resource(
            uri=uri,
            function=function,
            name=name or str(getattr(function, "__name__", uri)),
            description=description if description is not None else doc.split("\n\n")[0],
            mime_type=mime_type,
            variables=variables,
            pattern=_template_pattern(uri) if variables else None,
        )

    return decorate


def _template_pattern(template: str) -> re.Pattern[str]:
    parts, end = [], 0
    for match in _VARIABLE.finditer(template):
        parts.append(re.escape(template[end : match.start()]))
        parts.append(f"(?P<{match.group(1)}>[^/?#]+)")
        end = match.end()
    parts.append(re.escape(template[end:]))
    return re.compile("".join(parts))


class Resources:
    """A server's resources: listing them, and reading one by URI."""

    def __init__(self, offered: Iterable[Resource]) -> None:
        self.plain: dict[str, Resource] = {}
        self.templates: list[Resource] = []
        for r in offered:
            if not isinstance(r, Resource):
                raise UserError(f"resources are made with @resource(uri), not {type(r).__name__}")
            if r.variables:
                self.templates.append(r)
            elif r.uri in self.plain:
                raise UserError(f"two resources have the URI {r.uri!r}")
            else:
                self.plain[r.uri] = r

    def __bool__(self) -> bool:
        return bool(self.plain or self.templates)

    async def list(self, ctx: Any, params: Any) -> ListResourcesResult:
        return ListResourcesResult(resources=[
            MCPResource(uri=r.uri, name=r.name, description=r.description or None, mime_type=r.mime_type)
            for r in self.plain.values()
        ])  # fmt: skip

    async def list_templates(self, ctx: Any, params: Any) -> ListResourceTemplatesResult:
        return ListResourceTemplatesResult(resource_templates=[
            ResourceTemplate(uri_template=r.uri, name=r.name, description=r.description or None,
                             mime_type=r.mime_type)
            for r in self.templates
        ])  # fmt: skip

    def find(self, uri: str) -> tuple[Resource, dict[str, str]]:
        """The resource for `uri` and its template's values; an MCP error when there is none."""
        found = self.plain.get(uri)
        if found is not None:
            return found, {}
        for template in self.templates:
            match = cast("re.Pattern[str]", template.pattern).fullmatch(uri)
            if match:
                return template, {k: unquote(v) for k, v in match.groupdict().items()}
        raise MCPError(code=RESOURCE_NOT_FOUND, message=f"no resource has the URI {uri!r}", data={"uri": uri})

    async def read(self, ctx: Any, params: Any) -> ReadResourceResult:
        found, arguments = self.find(str(params.uri))
        try:
            value = await found.read(arguments)
        except Exception as e:
            raise MCPError(code=INTERNAL_ERROR, message=f"reading {params.uri} failed: {type(e).__name__}: {e}") from e
        uri = str(params.uri)
        if isinstance(value, str):
            return ReadResourceResult(contents=[TextResourceContents(uri=uri, text=value, mime_type=found.mime_type)])
        blob = base64.b64encode(bytes(value)).decode("ascii")
        return ReadResourceResult(contents=[BlobResourceContents(uri=uri, blob=blob, mime_type=found.mime_type)])

    async def subscribe(self, ctx: Any, params: Any) -> EmptyResult:
        """Accepted (and unsubscribing too) for a URI the server has. agentkit cannot know when
        a function's contents change, so it sends no ``notifications/resources/updated``."""
        self.find(str(params.uri))
        return EmptyResult()
