"""An MCP server (the SDK's `MCPServer`) that asks its client for things and returns rich results.

    python asking_server.py              # stdio
    python asking_server.py --http PORT  # Streamable HTTP on 127.0.0.1:PORT/mcp

Tools: ask_model (sampling), ask_person (elicitation), show_roots (roots), chatty (log messages),
count (progress), wait_noting (waits; notes its cancellation in a file), weather (structured output
with an output schema), delete_everything / look / plain (annotations), sound (audio), linker
(a resource link), embedded (embedded text and image resources). Resources: note://hello (text),
note://blob (bytes). Prompt: greet. The server has instructions.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, ListRoots, MCPServer, Resolve, Sample
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CreateMessageResult,
    EmbeddedResource,
    ListRootsResult,
    ResourceLink,
    SamplingMessage,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from pydantic import BaseModel, Field

server = MCPServer("asking-server", instructions="Ask the weather tool about the weather.")

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a730000001649444154789c63bc2322c2c0c0c0c4"
    "c0c0c0c0c000000d2201085083727d0000000049454e44ae426082"
)).decode()  # fmt: skip


def _sample(question: str, max_tokens: int = 50) -> Sample:
    message = SamplingMessage(role="user", content=TextContent(text=question))
    return Sample([message], max_tokens=max_tokens, system_prompt="Answer briefly.")


# The SDK's resolvers ask mid-call on handshake-era connections and by `InputRequiredResult` on
# 2026-07-28 ones: the client answers both through the same callbacks.
@server.tool()
async def ask_model(
    question: str, answer: Annotated[CreateMessageResult, Resolve(_sample)], max_tokens: int = 50
) -> str:
    """Ask the client's model."""
    text = answer.content.text if isinstance(answer.content, TextContent) else repr(answer.content)
    return json.dumps({"text": text, "model": answer.model, "stop": answer.stop_reason})


_LATER: set = set()


@server.tool()
async def ask_later(path: str, ctx: Context, person: bool = False) -> str:
    """Return at once; then (handshake-era protocol) ask the client's model (or the person),
    unasked, and write what happened to `path`."""
    session = ctx.session

    async def later() -> None:
        await anyio.sleep(0.2)
        try:
            if person:
                schema = {"type": "object", "properties": {"password": {"type": "string"}}}
                outcome = (await session.elicit_form("Your password, please", schema)).action
            else:
                message = SamplingMessage(role="user", content=TextContent(text="unasked"))
                await session.create_message([message], max_tokens=10_000)
                outcome = "answered"
        except Exception as e:
            outcome = f"refused: {e}"
        with open(path, "w") as f:
            f.write(outcome)

    task = asyncio.get_running_loop().create_task(later())
    _LATER.add(task)
    return "later"


class Person(BaseModel):
    name: str = Field(title="Name")
    age: int = Field(default=30, ge=0)


def _person() -> Elicit[Person]:
    return Elicit("Who are you?", Person)


@server.tool()
async def ask_person(answer: Annotated[ElicitationResult[Person], Resolve(_person)]) -> str:
    """Ask the person for their name and age."""
    content = answer.data.model_dump() if answer.action == "accept" else None
    return json.dumps({"action": answer.action, "content": content})


def _roots() -> ListRoots:
    return ListRoots()


@server.tool()
async def show_roots(roots: Annotated[ListRootsResult, Resolve(_roots)]) -> str:
    """The client's roots."""
    return json.dumps([{"uri": str(r.uri), "name": r.name} for r in roots.roots])


@server.tool()
async def chatty(ctx: Context) -> str:
    """Send log messages."""
    await ctx.log("warning", "100% %s of %d done")
    await ctx.log("info", {"step": 1})
    await ctx.log("error", "x" * 50_000)
    return "logged"


@server.tool()
async def count(n: int, ctx: Context) -> str:
    """Report progress n times."""
    for i in range(1, n + 1):
        await ctx.report_progress(i, n, f"step {i}")
    return "counted"


@server.tool()
async def has_token(ctx: Context) -> str:
    """Whether the call came with a progress token."""
    meta = ctx.request_context.meta
    found = meta if isinstance(meta, dict) else vars(meta) if meta is not None else {}
    return "yes" if found.get("progress_token", found.get("progressToken")) is not None else "no"


@server.tool()
async def flood(n: int, ctx: Context) -> str:
    """Progress 1, then 1 again and 0.5 (going back), then 2..n."""
    for value in (1, 1, 0.5, *range(2, n + 1)):
        await ctx.report_progress(value, n)
    return "flooded"


@server.tool()
async def wait_noting(path: str) -> str:
    """Wait for ever; write `cancelled` to `path` when the client cancels."""
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        with open(path, "w") as f:
            f.write("cancelled")
        raise
    return ""


class Weather(BaseModel):
    city: str
    celsius: float


@server.tool()
def weather(city: str) -> Weather:
    """The weather in a city."""
    return Weather(city=city, celsius=21.5)


@server.tool(title="Delete everything", annotations=ToolAnnotations(destructive_hint=True, read_only_hint=False))
def delete_everything() -> str:
    """Delete everything."""
    return "deleted"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def look() -> str:
    """Look around."""
    return "seen"


@server.tool()
def plain() -> str:
    """No annotations."""
    return "plain"


@server.tool()
def sound() -> list:
    """A short sound."""
    return [AudioContent(data=base64.b64encode(b"RIFF0000WAVE").decode(), mime_type="audio/wav")]


@server.tool()
def linker() -> list:
    """A link to a resource."""
    return [ResourceLink(name="hello", uri="note://hello", mime_type="text/plain", description="a greeting")]


@server.tool()
def embedded() -> list:
    """Embedded resources: a text and an image."""
    return [
        EmbeddedResource(
            resource=TextResourceContents(uri="note://inline", text="inline text", mime_type="text/plain")
        ),
        EmbeddedResource(resource=BlobResourceContents(uri="note://dot", blob=PNG, mime_type="image/png")),
    ]


@server.resource("note://hello", name="hello", mime_type="text/plain")
def hello() -> str:
    return "hello there"


@server.resource("note://blob", name="blob", mime_type="application/octet-stream")
def blob() -> bytes:
    return b"\x00\x01\x02"


@server.prompt()
def greet(name: str) -> str:
    """Greet someone."""
    return f"Say hello to {name}."


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
