"""The name a model sees for an MCP server's tool."""

from __future__ import annotations

import hashlib

from ..tools import valid_name

__all__ = ["model_name"]


def model_name(name: str) -> str:
    """`name` as the model may write it (``^[a-zA-Z0-9_-]{1,64}$``, what OpenAI-style servers
    accept): a valid name is kept; another has each other character made an underscore, is cut
    to 55, and ends with ``_`` and 8 hex digits of its hash. The mapping depends on the name
    alone: a call a model wrote (and a person approved) names the same server tool after the
    server's list changes."""
    if valid_name(name) == name:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{valid_name(name)[:55]}_{digest}"
