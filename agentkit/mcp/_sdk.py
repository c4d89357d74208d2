"""The MCP SDK, or an ImportError that says how to install it (imported first by `agentkit.mcp`)."""

try:
    import mcp.types  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e
