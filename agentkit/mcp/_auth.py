"""What ``auth=`` takes and what goes to the server (`ServerAuth`), and the `AuthorizationError` a refusal
(401/403) or a failed sign-in becomes."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from typing import Any

try:
    import httpx2
    from mcp.client.auth import OAuthClientProvider, OAuthFlowError
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"agentkit.mcp needs the MCP SDK: pip install 'agentkit[mcp]' ({e})") from e

from ..exceptions import AuthorizationError, UserError
from ._untrusted import sanitise


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
        self.credentials: str | None = (
            "oauth"
            if isinstance(auth, OAuthClientProvider)
            else "token"
            if auth is not None or any(name.lower() == "authorization" for name in self._headers)
            else None
        )
        """What goes to the server: ``"oauth"`` (an OAuth provider's token), ``"token"`` (other credentials),
        or None."""
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
    for cause in _causes(e):
        response = getattr(cause, "response", None)
        status = getattr(response, "status_code", None)
        if status in (401, 403):
            return status, response.headers.get("www-authenticate")  # type: ignore[union-attr]
        if isinstance(cause, OAuthFlowError):
            return None  # the flow itself failed: its own message says why
    return None if auth is None else auth.refused


def auth_failure(
    e: BaseException, auth: ServerAuth, where: str, *, redact: Callable[[str], str]
) -> AuthorizationError | None:
    """The `AuthorizationError` behind `e`, if authorization is what failed: a refusal (401/403), or an OAuth
    flow that could not finish (the person refused, no redirect came, a server broke the protocol)."""
    flow = _find(e, OAuthFlowError)
    if flow is not None:
        said = sanitise(redact(str(flow) or type(flow).__name__))  # a server's text: escaped and cut
        return AuthorizationError(f"{where}: authorization failed: {said}")
    refused = refusal(e, auth)
    if refused is None:
        return None
    return authorization_error(where, *refused, credentials=auth.credentials, redact=redact)


def _find(e: BaseException, kind: type[BaseException]) -> BaseException | None:
    return next((cause for cause in _causes(e) if isinstance(cause, kind)), None)


def _causes(e: BaseException) -> Iterator[BaseException]:
    """`e` and every exception behind it (causes, contexts, a group's members), each once."""
    seen: set[int] = set()
    stack: list[BaseException] = [e]
    while stack:
        cause = stack.pop()
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        yield cause
        stack += [c for c in (cause.__cause__, cause.__context__) if c is not None]
        stack += list(getattr(cause, "exceptions", ()))


def authorization_error(
    where: str, status: int, challenge: str | None, *, credentials: str | None, redact: Callable[[str], str]
) -> AuthorizationError:
    """The error for a refusal: says "authorization", what the server said, and what to do. `credentials`:
    what was sent (see `ServerAuth.credentials`)."""
    if status == 403:
        said = "refused authorization (HTTP 403 Forbidden: the credentials lack a permission)"
        todo = "ask for the scope it names (oauth(..., scopes=...)) or use an account allowed to"
    elif credentials == "oauth":
        said = "refused authorization (HTTP 401 Unauthorized: the sign-in's token was not accepted)"
        todo = "sign in again (remove the server's entry from oauth(..., storage=...))"
    elif credentials is not None:
        said = "refused authorization (HTTP 401 Unauthorized: the credentials were not accepted)"
        todo = "check the token or credentials given (auth=, or the Authorization header)"
    else:
        said = "needs authorization (HTTP 401 Unauthorized)"
        todo = "give auth=agentkit.mcp.oauth(url) to sign in, or auth='TOKEN' for a bearer token"
    challenge = None if challenge is None else sanitise(redact(challenge))
    challenge_text = f"; WWW-Authenticate: {challenge}" if challenge else ""
    return AuthorizationError(f"{where} {said}{challenge_text}: {todo}", status=status, www_authenticate=challenge)
