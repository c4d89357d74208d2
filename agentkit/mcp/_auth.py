"""Authorization for MCP servers over HTTP: what ``auth=`` takes, `oauth` (the SDK's OAuth client provider
with agentkit's redirect handling and token storage), and the errors a refusal (401/403) becomes."""

from __future__ import annotations

import contextlib
import inspect
import logging
import socket
import urllib.parse
import webbrowser
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import anyio
import anyio.to_thread

try:
    import httpx2
    from mcp.client.auth import OAuthClientProvider, OAuthFlowError
    from mcp.client.auth.utils import union_scopes
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata
    from pydantic import AnyUrl, PrivateAttr
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

from .._redact import public_url
from ..exceptions import AuthorizationError, UserError
from ._storage import storage_for

logger = logging.getLogger("agentkit")

OpenURL = Callable[[str], "str | Awaitable[str | None] | None"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


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
    if redirect_uri is not None and open_url is None:
        _loopback_address(redirect_uri)  # agentkit must be able to take the redirect there
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
    ) -> None:
        super().__init__(
            server_url, metadata, storage, redirect_handler=self._open, callback_handler=self._redirected,
            client_metadata_url=client_metadata_url,
        )  # fmt: skip
        self._open_url = open_url
        self._fixed_redirect = redirect_uri
        self._timeout = redirect_timeout
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
            )
        )

    def __repr__(self) -> str:
        return f"oauth({public_url(self.context.server_url)!r})"

    # --- the client and its redirect URI --------------------------------------------------------

    async def _initialize(self) -> None:
        await super()._initialize()
        tokens = self.context.current_tokens
        if tokens is not None and tokens.expires_in is not None:
            self.context.update_token_expiry(tokens)  # stored tokens: expired ones are refreshed, not sent
        if self._fixed_redirect is None and self._socket is None:
            # Bound now (not listened on until a person authorizes) so that the port is in the redirect URI
            # the client registers with, as well as in the authorization request.
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._socket.bind(("127.0.0.1", 0))
            port = self._socket.getsockname()[1]
            self.context.client_metadata.redirect_uris = [AnyUrl(f"http://127.0.0.1:{port}/callback")]
        redirect = str(self.context.client_metadata.redirect_uris[0])  # type: ignore[index]
        info = self.context.client_info
        if self._preregistered is not None:
            if info is None or info.client_id != self._preregistered.client_id:
                self._preregistered.redirect_uris = self.context.client_metadata.redirect_uris
                self.context.client_info = self._preregistered
        elif (
            info is not None
            and info.client_id != self.context.client_metadata_url
            and info.redirect_uris
            and redirect not in {str(u) for u in info.redirect_uris}
        ):
            # A registration of an earlier process, for another port: register again rather than be refused.
            self.context.client_info = None

    def _choose_client_authentication(self) -> None:
        """A pre-registered secret goes as the server's metadata allows, ``client_secret_basic`` first (also
        RFC 8414's default when the metadata names none)."""
        info = self.context.client_info
        if self._preregistered is None or info is not self._preregistered or not info.client_secret:
            return
        metadata = self.context.oauth_metadata
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
        self._choose_client_authentication()
        return await super()._exchange_token_authorization_code(auth_code, code_verifier)

    async def _refresh_token(self) -> httpx2.Request:
        self._choose_client_authentication()
        return await super()._refresh_token()

    # --- the person's part ------------------------------------------------------------------------

    async def _open(self, url: str) -> None:
        self._answer = None
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
            answer = await _take_redirect(
                redirect, state, self._socket, url, browser=self._open_url is None, timeout=self._timeout
            )
        self._answer = answer

    async def _redirected(self) -> AuthorizationCodeResult:
        answer, self._answer = self._answer, None
        if answer is None:
            raise OAuthFlowError("no redirect from the authorization server was received")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer).query))
        if "error" in query:
            said = query["error"] + (f" ({query['error_description']})" if query.get("error_description") else "")
            raise OAuthFlowError(f"the authorization server refused the authorization: {said}")
        if not query.get("code"):
            raise OAuthFlowError("the redirect carries no authorization code")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))


def _is_async(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)


def _scope_text(scopes: str | Iterable[str] | None) -> str | None:
    if scopes is None:
        return None
    words = scopes.split() if isinstance(scopes, str) else [str(s) for s in scopes]
    return " ".join(dict.fromkeys(words)) or None


def _loopback_address(redirect_uri: str) -> tuple[str, int, str]:
    """Where agentkit listens for `redirect_uri`: (host, port, path); a `UserError` if it cannot."""
    parts = urllib.parse.urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK or parts.port is None:
        raise UserError(
            f"agentkit can take the redirect only at an http://127.0.0.1:PORT/ or http://localhost:PORT/ address, "
            f"not {redirect_uri!r}: give open_url to take it yourself"
        )
    host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
    return host, parts.port, parts.path or "/"


# --- the redirect, taken on the loopback interface -------------------------------------------------------

_PAGE = "<!doctype html><meta charset=utf-8><title>agentkit</title><p>{}</p><p>You can close this window.</p>"


async def _take_redirect(
    redirect_uri: str, state: str, bound: socket.socket | None, url: str, *, browser: bool, timeout: float
) -> str:
    """Listen at `redirect_uri` (on `bound`, agentkit's own port, when given) for one GET of its path that
    carries `state`; return the URL requested. Other requests are answered 400 and change nothing."""
    from anyio.abc import SocketListener

    host, port, path = _loopback_address(redirect_uri)
    listener: Any
    if bound is not None:
        bound.listen(8)
        listener = await SocketListener.from_socket(bound.dup())
    else:
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port, reuse_port=False)
    if browser:
        opened = await anyio.to_thread.run_sync(webbrowser.open, url)
        # The URL holds no secret (the PKCE verifier stays here): show it when no browser could be opened.
        log = logger.info if opened else logger.warning
        log("to authorize this MCP client, open this URL in a browser: %s", url)
    got: list[str] = []
    async with listener:
        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as tg:

                async def serve(stream: Any) -> None:
                    async with stream:
                        with anyio.move_on_after(10):
                            target = await _read_target(stream)
                            if target is None:
                                return
                            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))
                            if urllib.parse.urlsplit(target).path != path or query.get("state") != state:
                                await _answer(stream, 400, "This is not the redirect agentkit is waiting for.")
                                return
                            failed = "error" in query
                            await _answer(stream, 200, "Authorization refused." if failed else "Authorized.")
                            got.append(target)
                            tg.cancel_scope.cancel()

                async def accept() -> None:
                    while True:
                        stream = await listener.accept()
                        tg.start_soon(serve, stream)

                tg.start_soon(accept)
    if not got:
        raise OAuthFlowError(f"no authorization reached {redirect_uri} within {timeout:g} s")
    return urllib.parse.urljoin(redirect_uri, got[0])


async def _read_target(stream: Any) -> str | None:
    """The request target of an HTTP GET read from `stream` (None for anything else or over 16 KiB)."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 16384:
        try:
            head += await stream.receive(4096)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return None
    words = head.split(b"\r\n", 1)[0].split(b" ")
    if len(words) != 3 or words[0] != b"GET":
        return None
    return words[1].decode("ascii", "replace")


async def _answer(stream: Any, status: int, text: str) -> None:
    body = _PAGE.format(text).encode()
    reason = "OK" if status == 200 else "Bad Request"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n"
    )
    with contextlib.suppress(anyio.BrokenResourceError, OSError):  # the browser went away: nothing to tell it
        await stream.send(head.encode() + body)


# --- what ``auth=`` takes, and what goes to the server ------------------------------------------------------


class ServerAuth(httpx2.Auth):
    """The one `httpx2.Auth` of an HTTP toolset: the user's `headers` and bearer token go on the transport's
    own requests to the server's origin (never on the requests an OAuth flow makes to metadata, registration
    and token endpoints, which may be other hosts, nor on a redirect elsewhere); `inner` (the user's ``auth=``)
    then does its part. It keeps the server's last refusal (401/403) for the error a failure becomes."""

    def __init__(self, url: str, headers: Mapping[str, str], auth: Any) -> None:
        self._origin = _origin(url)
        self._headers = dict(headers)
        self._inner: httpx2.Auth | None = None
        if isinstance(auth, str):
            if not auth or any(c in auth for c in "\r\n"):
                raise UserError("auth= wants a bearer token (one line, not empty)")
            self._headers["Authorization"] = f"Bearer {auth}"
        elif isinstance(auth, httpx2.Auth):
            self._inner = auth
        elif _is_httpx_auth(auth):
            from ._httpx_auth import FromHttpx

            self._inner = FromHttpx(auth)
        elif auth is not None:
            raise UserError(
                f"auth= wants a bearer token, an httpx.Auth or the MCP SDK's auth provider "
                f"(agentkit.mcp.oauth(...)), not {type(auth).__name__}"
            )
        self.refused: tuple[int, str | None] | None = None
        """The status and WWW-Authenticate header of the server's last refusal (None after a success)."""

    @property
    def requires_response_body(self) -> bool:  # type: ignore[override]
        return bool(getattr(self._inner, "requires_response_body", False))

    @property
    def requires_request_body(self) -> bool:  # type: ignore[override]
        return bool(getattr(self._inner, "requires_request_body", False))

    def __repr__(self) -> str:
        return "ServerAuth()"

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        if _origin(str(request.url)) in (self._origin, _upgraded(self._origin)):
            for name, value in self._headers.items():
                request.headers[name] = value
        if self._inner is None:
            self._note(request, (yield request))
            return
        flow = self._inner.async_auth_flow(request)
        try:
            outgoing = await flow.__anext__()
            while True:
                response = yield outgoing
                if outgoing is request:
                    self._note(request, response)
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()

    def _note(self, request: httpx2.Request, response: httpx2.Response) -> None:
        if response.status_code in (401, 403):
            self.refused = (response.status_code, response.headers.get("www-authenticate"))
        elif response.status_code < 400:
            self.refused = None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _upgraded(origin: tuple[str, str, int | None]) -> tuple[str, str, int | None]:
    """`origin` moved to https, as a redirect may (and the SDK's transports follow within an origin)."""
    scheme, host, port = origin
    return ("https", host, 443) if (scheme, port) == ("http", 80) else origin


def _is_httpx_auth(auth: Any) -> bool:
    import sys

    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(auth, httpx.Auth)


def secrets_of(auth: Any) -> list[str]:
    """The secrets an ``auth=`` value holds now (a bearer token; an OAuth provider's tokens and client
    secret), to keep out of messages: they change as tokens are refreshed, so this is asked each time."""
    if isinstance(auth, str):
        return [auth]
    found: list[str] = []
    context = getattr(auth, "context", None)
    tokens = getattr(context, "current_tokens", None)
    for value in (getattr(tokens, "access_token", None), getattr(tokens, "refresh_token", None)):
        if isinstance(value, str):
            found.append(value)
    secret = getattr(getattr(context, "client_info", None), "client_secret", None)
    if isinstance(secret, str):
        found.append(secret)
    return found


# --- a refusal, said as such -----------------------------------------------------------------------------


def refusal(e: BaseException, auth: ServerAuth | None) -> tuple[int, str | None] | None:
    """The (status, WWW-Authenticate) of a 401/403 behind `e`: an HTTP status error in its causes (the SSE
    transport raises those), or the refusal `auth` saw (the Streamable HTTP transport says only "Server
    returned an error response")."""
    seen: set[int] = set()
    stack: list[BaseException] = [e]
    while stack:
        cause = stack.pop()
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        response = getattr(cause, "response", None)
        status = getattr(response, "status_code", None)
        if status in (401, 403):
            return status, response.headers.get("www-authenticate")  # type: ignore[union-attr]
        if isinstance(cause, OAuthFlowError):
            return None  # the flow itself failed: its own message says why
        stack += [c for c in (cause.__cause__, cause.__context__) if c is not None]
        stack += list(getattr(cause, "exceptions", ()))
    return None if auth is None else auth.refused


def auth_failure(
    e: BaseException, auth: ServerAuth | None, where: str, *, has_auth: bool, redact: Callable[[str], str]
) -> AuthorizationError | None:
    """The `AuthorizationError` behind `e`, if authorization is what failed: a refusal (401/403), or an OAuth
    flow that could not finish (the person refused, no redirect came, a server broke the protocol)."""
    flow = _find(e, OAuthFlowError)
    if flow is not None:
        return AuthorizationError(f"{where}: authorization failed: {redact(str(flow) or type(flow).__name__)}")
    refused = refusal(e, auth)
    if refused is None:
        return None
    return authorization_error(where, *refused, has_auth=has_auth, redact=redact)


def _find(e: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    stack: list[BaseException] = [e]
    while stack:
        cause = stack.pop()
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, kind):
            return cause
        stack += [c for c in (cause.__cause__, cause.__context__) if c is not None]
        stack += list(getattr(cause, "exceptions", ()))
    return None


def authorization_error(
    where: str, status: int, challenge: str | None, *, has_auth: bool, redact: Callable[[str], str]
) -> AuthorizationError:
    """The error for a refusal: says "authorization", what the server said, and what to do."""
    if status == 403:
        said = "refused authorization (HTTP 403 Forbidden: the credentials lack a permission)"
        todo = "ask for the scope it names (oauth(..., scopes=...)) or use an account allowed to"
    elif has_auth:
        said = "refused authorization (HTTP 401 Unauthorized: the credentials were not accepted)"
        todo = "check the token, or authorize again (delete the stored tokens of oauth(..., storage=...))"
    else:
        said = "needs authorization (HTTP 401 Unauthorized)"
        todo = "give auth=agentkit.mcp.oauth(url) to sign in, or auth='TOKEN' for a bearer token"
    challenge = None if challenge is None else redact(challenge)[:1000]
    challenge_text = f"; WWW-Authenticate: {challenge}" if challenge else ""
    return AuthorizationError(f"{where} {said}{challenge_text}: {todo}", status=status, www_authenticate=challenge)
