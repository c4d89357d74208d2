"""An MCP server (the SDK's `MCPServer`, stdio) whose one tool asks the client for a form with every kind of field,
under a message that is HTML meant to run in the page: ``order`` returns what came back."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from mcp.server.mcpserver import Elicit, ElicitationResult, MCPServer, Resolve
from pydantic import BaseModel, Field

server = MCPServer("form-server")
MESSAGE = '<img src=x onerror="window.pwned=1"><b>Your order</b>'


class Order(BaseModel):
    colour: Literal["red", "green"] = Field(title="Colour")
    count: int = Field(description="how many")
    gift: bool = False
    weight: float = 1.5


def _order() -> Elicit[Order]:
    return Elicit(MESSAGE, Order)


@server.tool()
async def order(answer: Annotated[ElicitationResult[Order], Resolve(_order)]) -> str:
    """Ask for an order."""
    content = answer.data.model_dump() if answer.action == "accept" else None
    return json.dumps({"action": answer.action, "content": content})


if __name__ == "__main__":
    server.run()
