"""`oauth`: the MCP SDK's OAuth client provider, with agentkit's redirect handling (`_loopback`), pre-registered
clients and token storage (`_storage`)."""

from __future__ import annotations

import inspect
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import anyio.to_thread

try:
    import httpx2
    from mcp.client.auth import OAuthClientProvider, OAuthFlowError
    from mcp.client.auth.utils import issuers_match, union_scopes
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata
    from pydantic import AnyUrl, PrivateAttr
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

from .._redact import public_url
from ..exceptions import UserError
from ._loopback import loopback_address, take_redirect
from ._storage import storage_for
from ._untrusted import sanitise

_WEB = ("http", "https")
OpenURL = Callable[[str], "str | Awaitable[str | None] | None"]


def oauth(
    server_url: str,
    *,
    open_url: OpenURL | None = None,
    client_name: str = "agentkit",
    client_id: str | None = None,
    client_secret: str | None = None,
    client_metadata_url: str | None = None,
    redirect_uri: str | None = None,
    scopes: str | Iterable[str] | None = None,
    storage: Any = None,
    redirect_timeout: float = 300.0,
    issuer: str | None = None,
) -> OAuthClientProvider:
    """The MCP SDK's OAuth client provider for `server_url`, for ``MCPToolset.http(url, auth=oauth(url))``.

    On the server's first 401 it discovers the authorization server, registers a client there (or uses
    `client_id`/`client_secret`, a pre-registered client, or `client_metadata_url` where the server takes
    Client ID Metadata Documents), has a person authorize (authorization code with PKCE), and keeps the tokens
    in `storage`, refreshing them when they expire.

    `open_url(url)`, sync (run in a worker thread) or async, is given the authorization URL and returns the
    URL the authorization server redirected to (with ``code`` and ``state``), or None to have agentkit take the
    redirect itself at `redirect_uri`. Without `open_url` the browser is opened. Without `redirect_uri`
    agentkit listens on 127.0.0.1 at a port of its own choosing (``http://127.0.0.1:PORT/callback``); a given
    `redirect_uri` it listens on must be an ``http://`` loopback address. Only a request carrying the
    authorization's ``state`` is taken, within `redirect_timeout` seconds.

    `issuer`: the authorization server the pre-registered client belongs to (required with `client_secret`):
    a sign-in where the MCP server names another one is refused before anything is sent there, and the
    client's registration and tokens are stored bound to it.

    `storage`: None (memory: authorize again in each process), a file path (JSON, written atomically and
    readable by its owner only; one file may hold several servers), or an object with the SDK's
    ``TokenStorage`` methods. `scopes` are asked for in addition to those the server names.
    """
    if not isinstance(server_url, str) or urllib.parse.urlsplit(server_url).scheme not in ("http", "https"):
        raise UserError(f"oauth() wants the MCP server's http(s) URL, not {server_url!r}")
    if open_url is not None and not callable(open_url):
        raise UserError(f"open_url must be a function of the authorization URL, not {open_url!r}")
    if client_secret is not None and client_id is None:
        raise UserError("client_secret needs the client_id it belongs to")
    if client_secret is not None and issuer is None:
        raise UserError(
            "client_secret needs issuer=, the authorization server the client was registered with: the secret "
            "is never sent to another one an MCP server names"
        )
    if issuer is not None and (not isinstance(issuer, str) or urllib.parse.urlsplit(issuer).scheme not in _WEB):
        raise UserError(f"issuer must be the authorization server's http(s) URL (its issuer), not {issuer!r}")
    if redirect_uri is not None and open_url is None:
        loopback_address(redirect_uri)  # agentkit must be able to take the redirect there
    wanted = _scope_text(scopes)
    metadata = _Metadata(
        client_name=client_name,
        redirect_uris=[AnyUrl(redirect_uri or "http://127.0.0.1/callback")],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        scope=wanted,
    )
    metadata._wanted = wanted
    try:
        return _OAuth(
            server_url,
            metadata,
            storage_for(storage, server_url),
            open_url=open_url,
            redirect_uri=redirect_uri,
            client_id=client_id,
            client_secret=client_secret,
            client_metadata_url=client_metadata_url,
            redirect_timeout=redirect_timeout,
            issuer=issuer,
        )
    except ValueError as e:  # the SDK's check of client_metadata_url
        raise UserError(f"oauth(): {e}") from None


class _Metadata(OAuthClientMetadata):
    """Client metadata whose scope always includes the scopes the user asked for: the SDK sets the scope
    from the server's challenge or metadata before registering and authorizing."""

    _wanted: str | None = PrivateAttr(default=None)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "scope":
            value = union_scopes(value, self._wanted)
        super().__setattr__(name, value)


class _OAuth(OAuthClientProvider):
    """`OAuthClientProvider` with agentkit's redirect handling, a pre-registered client whose secret goes as the
    server allows, and stored tokens that keep their expiry across processes (see `_storage`)."""

    def __init__(
        self,
        server_url: str,
        metadata: OAuthClientMetadata,
        storage: Any,
        *,
        open_url: OpenURL | None,
        redirect_uri: str | None,
        client_id: str | None,
        client_secret: str | None,
        client_metadata_url: str | None,
        redirect_timeout: float,
        issuer: str | None,
    ) -> None:
        super().__init__(
            server_url, metadata, storage, redirect_handler=self._open, callback_handler=self._redirected,
            client_metadata_url=client_metadata_url,
        )  # fmt: skip
        self._open_url = open_url
        self._fixed_redirect = redirect_uri
        self._timeout = redirect_timeout
        self._issuer = issuer
        self._socket: socket.socket | None = None
        self._answer: str | None = None
        self._preregistered = (
            None
            if client_id is None
            else OAuthClientInformationFull(
                client_id=client_id,
                client_secret=client_secret,
                redirect_uris=metadata.redirect_uris,
                token_endpoint_auth_method="client_secret_basic" if client_secret else "none",
                issuer=issuer,  # the SDK drops stored credentials (and tokens) bound to another issuer
            )
        )
        self._issuer = issuer

    def __repr__(self) -> str:
        return f"oauth({public_url(self.context.server_url)!r})"

    # --- the client and its redirect URI --------------------------------------------------------

    async def _initialize(self) -> None:
        await super()._initialize()
        tokens = self.context.current_tokens
        if tokens is not None and tokens.expires_in is not None:
            self.context.update_token_expiry(tokens)  # stored tokens: expired ones are refreshed, not sent
        get_metadata = getattr(self.context.storage, "get_metadata", None)
        if tokens is not None and self.context.oauth_metadata is None and get_metadata is not None:
            self.context.oauth_metadata = await get_metadata()  # where to refresh them
        info = self.context.client_info
        if self._fixed_redirect is None and self._socket is None:
            # Bound now (not listened on until a person authorizes) so that the port is in the redirect URI
            # the client registers with, as well as in the authorization request. A registration stored by
            # an earlier process has its port tried first: its redirect URI then matches exactly (its
            # tokens stay refreshable either way; RFC 8252 has servers take any port on loopback).
            self._socket = _bind_loopback(_stored_port(info))
            port = self._socket.getsockname()[1]
            self.context.client_metadata.redirect_uris = [AnyUrl(f"http://127.0.0.1:{port}/callback")]
        if self._preregistered is not None and (info is None or info.client_id != self._preregistered.client_id):
            self._preregistered.redirect_uris = self.context.client_metadata.redirect_uris
            self.context.client_info = self._preregistered

    def _select_authorization_server(self, advertised: list[str]) -> str:
        """With `issuer` given, that one of the servers the MCP server names, or none at all."""
        if self._issuer is None:
            return super()._select_authorization_server(advertised)
        for candidate in advertised:
            if issuers_match(candidate, self._issuer):
                return candidate
        raise OAuthFlowError(
            f"the MCP server names the authorization server {sanitise(', '.join(advertised))}, not "
            f"{self._issuer} that this client belongs to: nothing was sent there"
        )

    def _check_issuer(self) -> None:
        """Before a secret or a refresh token goes to a token endpoint: it is `issuer`'s."""
        if self._issuer is None:
            return
        metadata = self.context.oauth_metadata
        found = str(metadata.issuer) if metadata is not None else self.context.auth_server_url
        if found is None or not issuers_match(found, self._issuer):
            raise OAuthFlowError(
                f"the authorization server is {sanitise(str(found or 'unknown'))}, not {self._issuer} that this "
                "client belongs to: nothing was sent there"
            )

    def _choose_client_authentication(self) -> None:
        """A pre-registered secret goes as the server's metadata allows, ``client_secret_basic`` first (also
        RFC 8414's default when the metadata names none), and only to the `issuer` given, if one is."""
        info = self.context.client_info
        if self._preregistered is None or info is not self._preregistered or not info.client_secret:
            return
        metadata = self.context.oauth_metadata
        if self._issuer is not None and (metadata is None or not issuers_match(str(metadata.issuer), self._issuer)):
            found = "no metadata" if metadata is None else f"metadata of {metadata.issuer}"
            raise OAuthFlowError(f"the client secret is for {self._issuer}; the sign-in found {found}: not sent")
        allowed = (metadata.token_endpoint_auth_methods_supported if metadata else None) or ["client_secret_basic"]
        for method in ("client_secret_basic", "client_secret_post"):
            if method in allowed:
                info.token_endpoint_auth_method = method  # type: ignore[assignment]
                return
        raise OAuthFlowError(
            "the authorization server takes a client secret neither as client_secret_basic nor as "
            f"client_secret_post (it takes {', '.join(allowed)})"
        )

    async def _exchange_token_authorization_code(self, auth_code: str, code_verifier: str) -> httpx2.Request:
        self._check_issuer()
        self._choose_client_authentication()
        return await super()._exchange_token_authorization_code(auth_code, code_verifier)

    async def _handle_token_response(self, response: httpx2.Response) -> None:
        await super()._handle_token_response(response)
        set_metadata = getattr(self.context.storage, "set_metadata", None)
        if self.context.oauth_metadata is not None and set_metadata is not None:
            await set_metadata(self.context.oauth_metadata)

    async def _refresh_token(self) -> httpx2.Request:
        self._check_issuer()
        self._choose_client_authentication()
        return await super()._refresh_token()

    # --- the person's part ------------------------------------------------------------------------

    async def _perform_authorization(self) -> httpx2.Request:
        if self._fixed_redirect is None and self._socket is None:  # a sign-in again, after an earlier one
            self._socket = _bind_loopback(_stored_port(self.context.client_info))
            port = self._socket.getsockname()[1]
            self.context.client_metadata.redirect_uris = [AnyUrl(f"http://127.0.0.1:{port}/callback")]
        try:
            return await super()._perform_authorization()
        finally:  # listened on for this sign-in only
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    async def _open(self, url: str) -> None:
        self._answer = None
        self._check_issuer()  # before the person is asked to sign in there
        state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)).get("state", "")
        redirect = str(self.context.client_metadata.redirect_uris[0])  # type: ignore[index]
        answer: str | None = None
        if self._socket is not None:
            self._socket.listen(8)  # before open_url: a browser it starts may reach the redirect at once
        if self._open_url is not None:
            given: Any = (
                self._open_url(url)
                if _is_async(self._open_url)
                else await anyio.to_thread.run_sync(self._open_url, url)
            )
            answer = await given if inspect.isawaitable(given) else given
            if answer is not None and not isinstance(answer, str):
                raise UserError(
                    f"open_url returned {type(answer).__name__}: it must return the URL redirected to, or None"
                )
        if answer is None:
            answer = await take_redirect(
                redirect, state, self._socket, url, browser=self._open_url is None, timeout=self._timeout
            )
        self._answer = answer

    async def _redirected(self) -> AuthorizationCodeResult:
        answer, self._answer = self._answer, None
        if answer is None:
            raise OAuthFlowError("no redirect from the authorization server was received")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer).query))
        if "error" in query:
            said = sanitise(
                query["error"] + (f" ({query['error_description']})" if query.get("error_description") else "")
            )
            raise OAuthFlowError(f"the authorization server refused the authorization: {said}")
        if not query.get("code"):
            raise OAuthFlowError("the redirect carries no authorization code")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))


def _stored_port(info: OAuthClientInformationFull | None) -> int | None:
    for uri in (info.redirect_uris or []) if info is not None else []:
        parts = urllib.parse.urlsplit(str(uri))
        if parts.scheme == "http" and parts.hostname == "127.0.0.1" and parts.path == "/callback" and parts.port:
            return parts.port
    return None


def _bind_loopback(port: int | None) -> socket.socket:
    """A TCP socket bound on 127.0.0.1, at `port` when it is free, else at a port the system picks."""
    for candidate in (port, 0) if port else (0,):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # bound again after a sign-in
            sock.bind(("127.0.0.1", candidate))
        except OSError:
            sock.close()
            continue
        return sock
    raise OSError("no port to listen on at 127.0.0.1")  # pragma: no cover - port 0 always binds


def _is_async(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)


def _scope_text(scopes: str | Iterable[str] | None) -> str | None:
    if scopes is None:
        return None
    words = scopes.split() if isinstance(scopes, str) else [str(s) for s in scopes]
    return " ".join(dict.fromkeys(words)) or None
