"""`agentkit.mcp.oauth` (agentkit.mcp._oauth) against the SDK-built authorization and MCP servers of
tests/mcp_servers/oauth_server.py: redirect URIs, and what a pre-registered client's secret is bound to."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

pytest.importorskip("mcp")

from agentkit import UserError
from agentkit.mcp import MCPToolset, oauth

from .mcp_servers import free_port
from .test_mcp_auth import call_whoami, follow, servers  # noqa: F401

pytestmark = pytest.mark.anyio


class _NoFollow(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _browser(seen: list[str]):
    """A person who approves at once, in a browser that reaches agentkit's redirect listener once it is up."""

    def open_url(url: str) -> None:
        seen.append(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["redirect_uri"])

        def visit() -> None:
            try:
                urllib.request.build_opener(_NoFollow).open(url, timeout=30)
            except urllib.error.HTTPError as e:
                location = e.headers["location"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(location, timeout=30).read()
                    return
                except urllib.error.URLError:
                    time.sleep(0.05)  # agentkit listens once open_url has returned: poll for it

        threading.Thread(target=visit, daemon=True).start()
        return None

    return open_url


def _listening(redirect_uri: str) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", urllib.parse.urlsplit(redirect_uri).port)) == 0


async def test_a_given_redirect_uri_is_listened_on(servers):  # noqa: F811
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    seen: list[str] = []
    provider = oauth(servers.url, open_url=_browser(seen), redirect_uri=redirect, redirect_timeout=30)
    assert await call_whoami(MCPToolset.http(servers.url, auth=provider)) == "authorized"
    assert seen == [redirect] and not _listening(redirect)


async def test_the_loopback_port_stops_listening_after_the_sign_in(servers):  # noqa: F811
    seen: list[str] = []
    provider = oauth(servers.url, open_url=_browser(seen), redirect_timeout=30)
    assert await call_whoami(MCPToolset.http(servers.url, auth=provider)) == "authorized"
    assert seen and not _listening(seen[0])


async def test_a_client_secret_needs_the_issuer_it_belongs_to():
    with pytest.raises(UserError, match="issuer"):
        oauth("http://127.0.0.1:1/mcp", client_id="c", client_secret="s3cret")
    with pytest.raises(UserError, match="issuer"):
        oauth("http://127.0.0.1:1/mcp", client_id="c", client_secret="s3cret", issuer="not a url")
