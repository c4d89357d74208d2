"""An MCP server behind OAuth, and its authorization server on another origin, both built with the MCP SDK's own
server-side auth (its metadata, registration, authorization, token and bearer-checking endpoints).

    python oauth_server.py RS_PORT AS_PORT LOG [--grant SCOPES] [--require SCOPES] [--token TOKEN] [--sse PORT]

The resource server (127.0.0.1:RS_PORT/mcp, tool ``whoami``) names the authorization server (127.0.0.1:AS_PORT)
in its protected resource metadata; with ``--sse`` it is also served on the legacy
HTTP+SSE transport (127.0.0.1:PORT/sse). The authorization server registers clients dynamically, knows one
pre-registered client (``pre-client`` / ``pre-s3cret-value``, redirect URI ``http://127.0.0.1:3000/callback``,
either client authentication method), approves every
authorization at once (a person who always says yes) with the requested scopes that are in ``--grant``, and takes
``--token`` as a valid access token too. Every request either server gets is appended to LOG as a JSON line:
``{"server": "rs" | "as", "method", "path", "query", "headers"}``.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from typing import Any

import anyio
import uvicorn
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    ProviderTokenVerifier,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyUrl


class Provider:
    def __init__(self, grant: list[str], token: str | None) -> None:
        self.grant = grant
        self.clients: dict[str, OAuthClientInformationFull] = {
            "pre-client": OAuthClientInformationFull(
                client_id="pre-client",
                client_secret="pre-s3cret-value",
                token_endpoint_auth_method="client_secret_basic",
                redirect_uris=[AnyUrl("http://127.0.0.1:3000/callback")],
                grant_types=["authorization_code", "refresh_token"],
                scope="mcp admin",
            )
        }
        self.codes: dict[str, AuthorizationCode] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        if token:
            self.tokens[token] = AccessToken(token=token, client_id="static", scopes=grant)

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self.clients[client_info.client_id] = client_info  # type: ignore[index]

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = AuthorizationCode(
            code=code, scopes=[s for s in params.scopes or [] if s in self.grant], expires_at=time.time() + 300,
            client_id=client.client_id or "", code_challenge=params.code_challenge, redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly, resource=params.resource,
        )  # fmt: skip
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(self, client: Any, authorization_code: str) -> AuthorizationCode | None:
        return self.codes.get(authorization_code)

    async def exchange_authorization_code(self, client: Any, authorization_code: AuthorizationCode) -> OAuthToken:
        self.codes.pop(authorization_code.code, None)
        return self._issue(client.client_id, authorization_code.scopes)

    async def load_refresh_token(self, client: Any, refresh_token: str) -> RefreshToken | None:
        return self.refresh.get(refresh_token)

    async def exchange_refresh_token(self, client: Any, refresh_token: RefreshToken, scopes: list[str]) -> OAuthToken:
        self.refresh.pop(refresh_token.token, None)
        return self._issue(client.client_id, scopes or refresh_token.scopes)

    async def load_access_token(self, token: str) -> AccessToken | None:
        return self.tokens.get(token)

    async def revoke_token(self, token: Any) -> None:
        self.tokens.pop(token.token, None)

    def _issue(self, client_id: str, scopes: list[str]) -> OAuthToken:
        access, refresh = "at-" + secrets.token_urlsafe(24), "rt-" + secrets.token_urlsafe(24)
        self.tokens[access] = AccessToken(
            token=access, client_id=client_id, scopes=scopes, expires_at=int(time.time()) + 3600
        )
        self.refresh[refresh] = RefreshToken(token=refresh, client_id=client_id, scopes=scopes)
        return OAuthToken(
            access_token=access, token_type="Bearer", expires_in=3600, refresh_token=refresh, scope=" ".join(scopes)
        )


def logged(app: Any, name: str, log: str) -> Any:
    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            entry = {"server": name, "method": scope["method"], "path": scope["path"],
                     "query": scope.get("query_string", b"").decode("latin-1"), "headers": headers}  # fmt: skip
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
        await app(scope, receive, send)

    return asgi


def option(name: str, default: str | None) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


async def main() -> None:
    rs_port, as_port, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    grant = (option("--grant", "mcp") or "").split()
    require = (option("--require", "mcp") or "").split()
    provider = Provider(grant, option("--token", None))
    issuer = f"http://127.0.0.1:{as_port}"
    authority = MCPServer(
        "authorization-server",
        auth_server_provider=provider,
        auth=AuthSettings(
            issuer_url=issuer, resource_server_url=f"{issuer}/mcp",
            client_registration_options=ClientRegistrationOptions(enabled=True, valid_scopes=["mcp", "admin"]),
        ),
    )  # fmt: skip
    resource = MCPServer(
        "protected",
        token_verifier=ProviderTokenVerifier(provider),  # type: ignore[arg-type]
        auth=AuthSettings(
            issuer_url=issuer, resource_server_url=f"http://127.0.0.1:{rs_port}/mcp", required_scopes=require or None,
        ),
    )  # fmt: skip

    @resource.tool()
    def whoami() -> str:
        """Say that the caller got in."""
        return "authorized"

    apps = [(resource.streamable_http_app(), "rs", rs_port), (authority.streamable_http_app(), "as", as_port)]
    if "--sse" in sys.argv:
        apps.append((resource.sse_app(), "sse", int(option("--sse", "0") or 0)))
    servers = [
        uvicorn.Server(uvicorn.Config(logged(app, name, log), host="127.0.0.1", port=port, log_level="warning"))
        for app, name, port in apps
    ]
    async with anyio.create_task_group() as tg:
        for server in servers:
            tg.start_soon(server.serve)


if __name__ == "__main__":
    anyio.run(main)
