"""The token file of `agentkit.mcp.oauth` (agentkit.mcp._storage): several writers at once, and what is
found at its path instead of a file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

pytest.importorskip("mcp")
from mcp.shared.auth import OAuthToken

from agentkit import UserError
from agentkit.mcp._storage import TokenFile

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
WRITER = """
import os, sys, time
from agentkit.mcp._storage import TokenFile
path, who, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
open(path + "." + who + ".ready", "w").close()
while not os.path.exists(path + ".go"):  # all start writing at once
    time.sleep(0.001)
for n in range(rounds):
    TokenFile(path, f"https://{who}.example/mcp")._update("tokens", {"access_token": f"{who}-{n}", "token_type": "Bearer"})
"""


async def last_tokens(path: Path, who: str) -> str | None:
    tokens = await TokenFile(path, f"https://{who}.example/mcp").get_tokens()
    return tokens.access_token if tokens is not None else None


async def test_writers_in_threads_lose_no_update(tmp_path):
    path, rounds = tmp_path / "tokens.json", 40
    barrier = threading.Barrier(4)

    def write(who: str) -> None:
        barrier.wait()
        for n in range(rounds):
            TokenFile(path, f"https://{who}.example/mcp")._update(
                "tokens", {"access_token": f"{who}-{n}", "token_type": "Bearer"}
            )

    threads = [threading.Thread(target=write, args=(f"s{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [await last_tokens(path, f"s{i}") for i in range(4)] == [f"s{i}-{rounds - 1}" for i in range(4)]


async def test_writers_in_processes_lose_no_update(tmp_path):
    path, rounds = tmp_path / "tokens.json", 150
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{i}", str(rounds)], env=env) for i in range(3)
    ]
    with anyio.fail_after(120):
        while not all(Path(f"{path}.p{i}.ready").exists() for i in range(3)):
            await anyio.sleep(0.01)
    Path(f"{path}.go").touch()
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    assert [await last_tokens(path, f"p{i}") for i in range(3)] == [f"p{i}-{rounds - 1}" for i in range(3)]


async def test_a_directory_at_the_token_path_is_a_user_error(tmp_path):
    path = tmp_path / "tokens.json"
    path.mkdir()
    storage = TokenFile(path, "https://s.example/mcp")
    with pytest.raises(UserError, match="not a regular file"):
        await storage.get_tokens()
    with pytest.raises(UserError, match=r"tokens\.json"):
        await storage.set_tokens(OAuthToken(access_token="a", token_type="Bearer"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
async def test_a_fifo_at_the_token_path_is_a_user_error_not_a_hang(tmp_path):
    path = tmp_path / "tokens.json"
    os.mkfifo(path)
    storage = TokenFile(path, "https://s.example/mcp")
    with anyio.fail_after(20), pytest.raises(UserError, match="not a regular file"):
        await storage.get_tokens()
    with anyio.fail_after(20), pytest.raises(UserError, match="not a regular file"):
        await storage.set_tokens(OAuthToken(access_token="a", token_type="Bearer"))
