"""Where `oauth` keeps an MCP server's tokens and client registration: memory, a file, or the user's object
with the SDK's ``TokenStorage`` methods."""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one process's threads are still kept in turn
    fcntl = None  # type: ignore[assignment]
from mcp.shared.auth import OAuthClientInformationFull, OAuthMetadata, OAuthToken

from ..exceptions import UserError

logger = logging.getLogger("agentkit")

_METHODS = ("get_tokens", "set_tokens", "get_client_info", "set_client_info")


def storage_for(storage: Any, server_url: str) -> Any:
    """`storage` as `oauth` takes it: None (memory), a path (a `TokenFile`), or an object with the methods."""
    if storage is None:
        return MemoryTokens()
    if isinstance(storage, (str, os.PathLike)):
        return TokenFile(storage, server_url)
    missing = [m for m in _METHODS if not callable(getattr(storage, m, None))]
    if missing:
        raise UserError(
            f"storage= wants None, a file path, or an object with the MCP SDK's TokenStorage methods "
            f"({', '.join(_METHODS)}); {type(storage).__name__} lacks {', '.join(missing)}"
        )
    return storage


class MemoryTokens:
    """Tokens and client registration in memory, for the life of the provider."""

    def __init__(self) -> None:
        self._tokens: OAuthToken | None = None
        self._client: OAuthClientInformationFull | None = None

    def __repr__(self) -> str:
        return "MemoryTokens()"

    async def get_tokens(self) -> OAuthToken | None:
        return self._tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self._tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self._client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._client = client_info


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_LOCK = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    """One lock per token file in this process."""
    key = os.path.abspath(path)
    with _THREAD_LOCKS_LOCK:
        return _THREAD_LOCKS.setdefault(key, threading.Lock())


class TokenFile:
    """Tokens and client registrations in a JSON file, one entry per MCP server URL.

    The file is only ever replaced whole (a new file in the same folder, renamed over it), and that new file
    is created readable and writable by its owner alone (0600), so no reader sees it half written and no
    other user can read it, not even for a moment. A token's expiry is kept as a time, so a later process
    refreshes an expired token instead of sending it.
    """

    def __init__(self, path: str | os.PathLike[str], server_url: str) -> None:
        self.path = Path(path).expanduser()
        self._server = server_url

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def _read(self) -> dict[str, Any]:
        try:
            # Non-blocking: a FIFO put at the path must not hang the reading thread (no one can cancel it).
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise UserError(f"the token file {self.path} cannot be read: {e.strerror or e}") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise UserError(f"the token file {self.path} is not a regular file: give a file path for storage=")
        with os.fdopen(fd, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning(
                "the token file %s can be read by other users: it is made private at its next write", self.path
            )
        try:
            data = json.loads(text)
        except ValueError:
            logger.warning("the token file %s is not JSON: it is ignored (and replaced at the next write)", self.path)
            return {}
        return data if isinstance(data, dict) else {}

    def _entry(self) -> dict[str, Any]:
        servers = self._read().get("servers")
        entry = servers.get(self._server) if isinstance(servers, dict) else None
        return entry if isinstance(entry, dict) else {}

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """The file's writers one at a time: threads of this process, then processes (a lock file beside it,
        locked with ``flock``), so that no read-modify-write loses another's update."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            raise UserError(f"the token file {self.path} cannot be written: {e.strerror or e}") from None
        with _thread_lock(self.path):
            if fcntl is None:  # pragma: no cover - not POSIX
                yield
                return
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            try:
                fd = os.open(folder / f".{self.path.name}.lock", flags, 0o600)
            except OSError as e:
                raise UserError(f"the token file {self.path} cannot be locked: {e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # and so unlocked

    def _update(self, key: str, value: Any) -> None:
        with self._turn():
            self._write(key, value)

    def _write(self, key: str, value: Any) -> None:
        data = self._read()
        servers = data.get("servers")
        if not isinstance(servers, dict):
            servers = data["servers"] = {}
        entry = servers.setdefault(self._server, {})
        entry[key] = value
        folder = self.path.parent
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
        except BaseException as e:
            Path(temporary).unlink(missing_ok=True)
            if isinstance(e, OSError):
                raise UserError(f"the token file {self.path} cannot be written: {e.strerror or e}") from None
            raise

    async def get_tokens(self) -> OAuthToken | None:
        saved = (await anyio.to_thread.run_sync(self._entry)).get("tokens")
        if not isinstance(saved, dict):
            return None
        saved = dict(saved)
        expires_at = saved.pop("expires_at", None)
        try:
            tokens = OAuthToken.model_validate(saved)
        except ValueError:
            return None
        if isinstance(expires_at, (int, float)):
            tokens.expires_in = max(0, int(expires_at - time.time()))
        return tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        saved = tokens.model_dump(mode="json", exclude_none=True)
        if tokens.expires_in is not None:
            saved["expires_at"] = time.time() + tokens.expires_in
            saved.pop("expires_in", None)
        await anyio.to_thread.run_sync(self._update, "tokens", saved)

    async def get_metadata(self) -> OAuthMetadata | None:
        """The authorization server's metadata as last discovered: a later process refreshes its tokens at
        that token endpoint (the SDK discovers it only on a 401)."""
        saved = (await anyio.to_thread.run_sync(self._entry)).get("authorization_server")
        try:
            return OAuthMetadata.model_validate(saved) if isinstance(saved, dict) else None
        except ValueError:
            return None

    async def set_metadata(self, metadata: OAuthMetadata) -> None:
        saved = metadata.model_dump(mode="json", exclude_none=True)
        await anyio.to_thread.run_sync(self._update, "authorization_server", saved)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        saved = (await anyio.to_thread.run_sync(self._entry)).get("client_info")
        if not isinstance(saved, dict):
            return None
        try:
            return OAuthClientInformationFull.model_validate(saved)
        except ValueError:
            return None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        saved = client_info.model_dump(mode="json", exclude_none=True)
        await anyio.to_thread.run_sync(self._update, "client_info", saved)
