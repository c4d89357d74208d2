"""``auth=`` and `agentkit.mcp.oauth` against an MCP server and an authorization server built with the MCP SDK's own
server-side auth (tests/mcp_servers/oauth_server.py): sign-in, where each header and token goes, token files, the
redirect taken on 127.0.0.1, pre-registered clients, and what a refusal (401/403) says. The conformance suite's
``auth/*`` scenarios (tests/test_mcp_conformance.py) test the flows against the protocol's own referee."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from agentkit import AuthorizationError, UserError

from .mcp_servers import free_port, refusing_server, wait_for_port

mcp = pytest.importorskip("mcp")
import httpx2  # noqa: E402

from agentkit.mcp import MCPToolset, oauth  # noqa: E402

pytestmark = pytest.mark.anyio
SERVER = str(Path(__file__).resolve().parent / "mcp_servers" / "oauth_server.py")
STATIC = "st4tic-t0ken-value"


@dataclass
class Servers:
    url: str
    issuer: str
    log: Path

    def requests(self, server: str | None = None) -> list[dict]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [r for r in map(json.loads, lines) if server is None or r["server"] == server]


@contextlib.contextmanager
def running(tmp_path: Path, *args: str, sse: int | None = None) -> Iterator[Servers]:
    rs, auth = free_port(), free_port()
    log = tmp_path / "requests.jsonl"
    more = ["--sse", str(sse)] if sse else []
    proc = subprocess.Popen([sys.executable, SERVER, str(rs), str(auth), str(log), "--token", STATIC, *args, *more])
    try:
        for port in (rs, auth, sse) if sse else (rs, auth):
            wait_for_port(port, proc)
        yield Servers(url=f"http://127.0.0.1:{rs}/mcp", issuer=f"http://127.0.0.1:{auth}", log=log)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def servers(tmp_path):
    with running(tmp_path) as s:
        yield s


async def follow(url: str) -> str:
    """A person who approves at once: the authorization endpoint's redirect, not followed."""
    async with httpx2.AsyncClient() as http:
        answer = await http.get(url, follow_redirects=False)
    assert answer.status_code in (302, 303, 307), answer.text
    return str(answer.headers["location"])


async def call_whoami(toolset: MCPToolset) -> str:
    async with toolset:
        tools = {t.name: t for t in await toolset.list_tools()}
        return str(await tools["whoami"].acall({}))


async def test_oauth_signs_in_registers_and_calls_a_tool(servers):
    provider = oauth(servers.url, open_url=follow)
    assert await call_whoami(MCPToolset.http(servers.url, auth=provider)) == "authorized"
    paths = [(r["method"], r["path"]) for r in servers.requests("as")]
    assert ("POST", "/register") in paths and ("GET", "/authorize") in paths and ("POST", "/token") in paths


async def test_headers_and_tokens_go_only_where_they_belong(servers):
    """The user's headers go to the MCP server alone (not to the authorization server on another origin); the
    access token goes to the MCP server alone; the authorization server sees no Authorization header (a
    dynamically registered public client)."""
    toolset = MCPToolset.http(
        servers.url, headers={"X-Api-Key": "h3ader-s3cret"}, auth=oauth(servers.url, open_url=follow)
    )
    assert await call_whoami(toolset) == "authorized"
    mcp_requests = [r for r in servers.requests("rs") if r["path"] == "/mcp"]
    assert mcp_requests and all(r["headers"].get("x-api-key") == "h3ader-s3cret" for r in mcp_requests)
    assert any(r["headers"].get("authorization", "").startswith("Bearer at-") for r in mcp_requests)
    to_authority = servers.requests("as")
    assert to_authority and all("x-api-key" not in r["headers"] for r in to_authority)
    assert all("authorization" not in r["headers"] for r in to_authority)
    # The metadata requests to the MCP server's origin carry neither.
    metadata = [r for r in servers.requests("rs") if r["path"].startswith("/.well-known/")]
    assert metadata and all({"x-api-key", "authorization"}.isdisjoint(r["headers"]) for r in metadata)


async def test_a_bearer_token_goes_to_the_server(servers):
    assert await call_whoami(MCPToolset.http(servers.url, auth=STATIC)) == "authorized"
    assert all(r["headers"].get("authorization") == f"Bearer {STATIC}" for r in servers.requests("rs"))
    assert servers.requests("as") == []


async def test_sse_takes_auth_and_headers_too(tmp_path):
    sse = free_port()
    with running(tmp_path, sse=sse) as servers:
        toolset = MCPToolset.sse(f"http://127.0.0.1:{sse}/sse", auth=STATIC, headers={"X-Api-Key": "h3ader-s3cret"})
        assert await call_whoami(toolset) == "authorized"
        sent = servers.requests("sse")
    assert {r["path"] for r in sent} >= {"/sse", "/messages/"}
    assert all(r["headers"].get("authorization") == f"Bearer {STATIC}" for r in sent)
    assert all(r["headers"].get("x-api-key") == "h3ader-s3cret" for r in sent)


async def test_an_httpx2_auth_is_used_as_it_is(servers):
    class Static(httpx2.Auth):
        def auth_flow(self, request):
            request.headers["Authorization"] = f"Bearer {STATIC}"
            yield request

    assert await call_whoami(MCPToolset.http(servers.url, auth=Static())) == "authorized"


async def test_an_httpx_auth_works_too(servers):
    httpx = pytest.importorskip("httpx")

    class Static(httpx.Auth):
        def auth_flow(self, request):
            request.headers["Authorization"] = f"Bearer {STATIC}"
            yield request

    assert await call_whoami(MCPToolset.http(servers.url, auth=Static())) == "authorized"


async def test_the_redirect_is_taken_on_loopback_with_its_state_checked(servers):
    """open_url returns None: agentkit listens on 127.0.0.1 (its own port, the one registered) and takes the
    one request that carries the authorization's state; another request there is refused and changes nothing."""
    seen: list[str] = []

    def browser(url: str) -> None:
        redirect = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["redirect_uri"]
        seen.append(redirect)

        def visit() -> None:
            try:
                urllib.request.urlopen(f"{redirect}?code=forged&state=wrong", timeout=30)
            except urllib.error.HTTPError as e:
                seen.append(f"forged: {e.code}")
            urllib.request.urlopen(url, timeout=30).read()  # the authorization server redirects to agentkit

        threading.Thread(target=visit, daemon=True).start()
        return None

    assert await call_whoami(MCPToolset.http(servers.url, auth=oauth(servers.url, open_url=browser))) == "authorized"
    host, port = urllib.parse.urlsplit(seen[0])[1].split(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert seen[1] == "forged: 400"
    with socket.socket() as probe:  # listened on for the sign-in only
        assert probe.connect_ex(("127.0.0.1", int(port))) != 0
    registered = [r for r in servers.requests("as") if r["path"] == "/register"]
    assert len(registered) == 1


async def test_a_token_file_is_private_and_spares_a_second_sign_in(servers, tmp_path):
    tokens = tmp_path / "state" / "tokens.json"
    old = os.umask(0)  # whatever the umask, the file is made for its owner alone
    try:
        first = await call_whoami(
            MCPToolset.http(servers.url, auth=oauth(servers.url, open_url=follow, storage=tokens))
        )
    finally:
        os.umask(old)
    assert first == "authorized"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert sorted(p.name for p in tokens.parent.iterdir()) == [".tokens.json.lock", "tokens.json"]  # no temporary left
    saved = json.loads(tokens.read_text())["servers"][servers.url]
    assert saved["tokens"]["access_token"].startswith("at-") and "expires_at" in saved["tokens"]

    def never(url: str) -> str:
        raise AssertionError("asked to authorize again")

    second = oauth(servers.url, open_url=never, storage=str(tokens))
    assert await call_whoami(MCPToolset.http(servers.url, auth=second)) == "authorized"
    assert [r["path"] for r in servers.requests("as")].count("/authorize") == 1


async def test_an_expired_stored_token_is_refreshed_not_signed_in_again(servers, tmp_path):
    tokens = tmp_path / "tokens.json"
    await call_whoami(MCPToolset.http(servers.url, auth=oauth(servers.url, open_url=follow, storage=tokens)))
    data = json.loads(tokens.read_text())
    first = data["servers"][servers.url]["tokens"]["access_token"]
    data["servers"][servers.url]["tokens"]["expires_at"] = 0  # expired since: a later process must not send it
    tokens.write_text(json.dumps(data))
    before = len(servers.requests("rs"))

    def never(url: str) -> str:
        raise AssertionError("asked to authorize again")

    await call_whoami(MCPToolset.http(servers.url, auth=oauth(servers.url, open_url=never, storage=tokens)))
    paths = [r["path"] for r in servers.requests("as")]
    assert paths.count("/authorize") == 1 and paths.count("/token") == 2  # the second: the refresh
    sent = [r["headers"].get("authorization") for r in servers.requests("rs")[before:]]
    assert sent and f"Bearer {first}" not in sent
    assert json.loads(tokens.read_text())["servers"][servers.url]["tokens"]["access_token"] != first


async def test_a_pre_registered_secret_goes_as_the_metadata_allows():
    from mcp.shared.auth import OAuthMetadata

    provider = oauth("http://127.0.0.1:1/mcp", open_url=follow, client_id="c", client_secret="s3cret-value",
                     issuer="http://127.0.0.1:1")  # fmt: skip
    await provider._initialize()
    for allowed, chosen in ((None, "client_secret_basic"), (["client_secret_post", "client_secret_basic"],
                            "client_secret_basic"), (["none", "client_secret_post"], "client_secret_post")):  # fmt: skip
        provider.context.oauth_metadata = OAuthMetadata(
            issuer="http://127.0.0.1:1", authorization_endpoint="http://127.0.0.1:1/authorize",
            token_endpoint="http://127.0.0.1:1/token", token_endpoint_auth_methods_supported=allowed,
        )  # fmt: skip
        provider._choose_client_authentication()
        assert provider.context.client_info.token_endpoint_auth_method == chosen


async def test_a_storage_object_is_used(servers):
    class Mine:
        def __init__(self):
            self.tokens = self.client = None
            self.writes = 0

        async def get_tokens(self):
            return self.tokens

        async def set_tokens(self, tokens):
            self.tokens, self.writes = tokens, self.writes + 1

        async def get_client_info(self):
            return self.client

        async def set_client_info(self, client_info):
            self.client = client_info

    mine = Mine()
    assert (
        await call_whoami(MCPToolset.http(servers.url, auth=oauth(servers.url, open_url=follow, storage=mine)))
        == "authorized"
    )
    assert mine.writes == 1 and mine.tokens.access_token.startswith("at-") and mine.client.client_id


async def test_a_pre_registered_client_sends_its_secret_with_basic_first(servers):
    provider = oauth(servers.url, open_url=follow, client_id="pre-client", client_secret="pre-s3cret-value",
                     issuer=servers.issuer, redirect_uri="http://127.0.0.1:3000/callback")  # fmt: skip
    assert await call_whoami(MCPToolset.http(servers.url, auth=provider)) == "authorized"
    token = [r for r in servers.requests("as") if r["path"] == "/token"]
    assert len(token) == 1 and token[0]["headers"]["authorization"].startswith("Basic ")
    assert "/register" not in [r["path"] for r in servers.requests("as")]


async def test_a_pre_registered_secret_goes_only_to_the_issuer_given(servers):
    wrong = oauth(servers.url, open_url=follow, client_id="pre-client", client_secret="pre-s3cret-value",
                  redirect_uri="http://127.0.0.1:3000/callback", issuer="https://login.example.com")  # fmt: skip
    with pytest.raises(AuthorizationError, match=r"not https://login\.example\.com"):
        await call_whoami(MCPToolset.http(servers.url, auth=wrong))
    assert [r["path"] for r in servers.requests("as") if r["path"] in ("/register", "/token", "/authorize")] == []
    right = oauth(servers.url, open_url=follow, client_id="pre-client", client_secret="pre-s3cret-value",
                  redirect_uri="http://127.0.0.1:3000/callback", issuer=servers.issuer)  # fmt: skip
    assert await call_whoami(MCPToolset.http(servers.url, auth=right)) == "authorized"


async def test_401_without_auth_says_authorization_and_what_the_server_said(servers):
    with pytest.raises(AuthorizationError) as caught:
        await call_whoami(MCPToolset.http(servers.url))
    said = str(caught.value)
    assert "authorization" in said and "401" in said and "oauth" in said
    assert "resource_metadata=" in said and caught.value.www_authenticate and caught.value.status == 401


async def test_a_refused_token_is_an_authorization_error_without_the_token(servers, caplog):
    caplog.set_level(logging.DEBUG)
    token = "wr0ng-" + "t0ken-value"  # not in this source line, which a traceback shows
    with pytest.raises(AuthorizationError) as caught:
        await call_whoami(MCPToolset.http(servers.url, auth=token))
    error = caught.value
    assert "authorization" in str(error) and "invalid_token" in str(error)
    texts = [str(error), repr(error), "".join(traceback.format_exception(error)), caplog.text]
    assert not [t for t in texts if token in t]


async def test_403_insufficient_scope_says_so(tmp_path):
    with (
        running(tmp_path, "--grant", "mcp", "--require", "mcp admin") as servers,
        pytest.raises(AuthorizationError) as caught,
    ):
        await call_whoami(MCPToolset.http(servers.url, auth=oauth(servers.url, open_url=follow)))
    assert caught.value.status == 403 and "insufficient_scope" in str(caught.value) and "scope" in str(caught.value)


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_a_bare_401_is_an_authorization_error_on_both_transports(transport):
    with refusing_server() as port, pytest.raises(AuthorizationError, match="needs authorization"):
        async with getattr(MCPToolset, transport)(f"http://127.0.0.1:{port}/mcp", connect_timeout=20):
            pass


async def test_no_token_or_secret_in_reprs_logs_or_errors(servers, caplog):
    caplog.set_level(logging.DEBUG)
    provider = oauth(servers.url, open_url=follow, client_id="pre-client", client_secret="pre-s3cret-value",
                     issuer=servers.issuer, redirect_uri="http://127.0.0.1:3000/callback")  # fmt: skip
    toolset = MCPToolset.http(servers.url, auth=provider)
    async with toolset:
        (whoami,) = await toolset.list_tools()
        await whoami.acall({})
        tokens = provider.context.current_tokens
        assert tokens is not None
        secrets = [tokens.access_token, tokens.refresh_token, "pre-s3cret-value"]
        said = [repr(toolset), repr(provider), repr(provider.context.storage), toolset._describe(RuntimeError(
            f"the server echoed {tokens.access_token} and {tokens.refresh_token} and pre-s3cret-value"))]  # fmt: skip
    texts = [*said, caplog.text]
    assert [s for s in secrets if any(s in t for t in texts)] == []


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match="auth="):
        MCPToolset.http("http://127.0.0.1:1/mcp", auth=42)
    with pytest.raises(UserError, match="storage="):
        oauth("http://127.0.0.1:1/mcp", storage=object())
    with pytest.raises(UserError, match=r"loopback|127\.0\.0\.1"):
        oauth("http://127.0.0.1:1/mcp", redirect_uri="https://example.com/callback")
    with pytest.raises(UserError, match="client_id"):
        oauth("http://127.0.0.1:1/mcp", client_secret="s3cret")
    with pytest.raises(UserError, match="client_metadata_url"):
        oauth("http://127.0.0.1:1/mcp", client_metadata_url="http://example.com/")


async def test_an_open_url_error_from_the_authorization_server_is_said(servers):
    async def deny(url: str) -> str:
        state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["state"]
        return f"http://127.0.0.1/callback?error=access_denied&error_description=no+thanks&state={state}"

    with pytest.raises(AuthorizationError) as caught:
        await call_whoami(MCPToolset.http(servers.url, auth=oauth(servers.url, open_url=deny)))
    assert "access_denied" in str(caught.value) and "no thanks" in str(caught.value)


async def test_the_listener_gives_up_after_its_timeout_when_nobody_authorizes(servers):
    provider = oauth(servers.url, open_url=lambda url: None, redirect_timeout=0.5)
    with anyio.fail_after(30), pytest.raises(AuthorizationError, match="no authorization reached"):
        await call_whoami(MCPToolset.http(servers.url, auth=provider))
