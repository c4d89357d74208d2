"""The client the MCP conformance suite drives (tests/test_mcp_conformance.py), built on agentkit's `MCPToolset`.

The suite runs ``python tests/conformance_client.py URL`` with the scenario's name in ``MCP_CONFORMANCE_SCENARIO``
and, for scenarios that need them, credentials in ``MCP_CONFORMANCE_CONTEXT`` (JSON). The client connects the way a
user would, lists the tools, calls the ones the scenario expects, and exits 0; the suite judges what went over the
wire. A person's part in an OAuth sign-in (following the authorization URL to its redirect) is played by
`follow_authorization`, given as ``open_url``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentkit.mcp import MCPToolset

logger = logging.getLogger("conformance_client")

# What each plain scenario calls, after listing the tools.
CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "initialize": [],
    "tools_call": [("add_numbers", {"a": 5, "b": 3})],
    "sse-retry": [("test_reconnection", {})],
    "elicitation-sep1034-client-defaults": [("test_client_elicitation_defaults", {})],
}


def context() -> dict[str, Any]:
    raw = os.environ.get("MCP_CONFORMANCE_CONTEXT")
    return json.loads(raw) if raw else {}


async def follow_authorization(url: str) -> str:
    """The person at the browser: the suite's authorization server signs them in at once and redirects."""
    async with httpx2.AsyncClient(timeout=30.0) as http:
        response = await http.get(url, follow_redirects=False)
    location = response.headers.get("location")
    if not response.is_redirect or not location:
        raise RuntimeError(f"the authorization endpoint answered {response.status_code} without a redirect")
    return str(location)


async def elicit_defaults(message: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """Accept, with the defaults the form's schema gives (SEP-1034)."""
    props = schema.get("properties", {})
    return {name: prop["default"] for name, prop in props.items() if isinstance(prop, dict) and "default" in prop}


def auth_for(scenario: str, url: str) -> Any:
    """What ``auth=`` gets in an ``auth/*`` scenario: the SDK's own providers where the suite tests a grant
    agentkit leaves to them (client credentials, SEP-990), `agentkit.mcp.oauth` for the authorization-code flow."""
    ctx = context()
    if scenario == "auth/client-credentials-basic":
        from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider

        return ClientCredentialsOAuthProvider(
            server_url=url, storage=_Memory(), client_id=ctx["client_id"], client_secret=ctx["client_secret"],
            token_endpoint_auth_method="client_secret_basic",
        )  # fmt: skip
    if scenario == "auth/client-credentials-jwt":
        from mcp.client.auth.extensions.client_credentials import PrivateKeyJWTOAuthProvider, SignedJWTParameters

        jwt = SignedJWTParameters(
            issuer=ctx["client_id"], subject=ctx["client_id"],
            signing_algorithm=ctx.get("signing_algorithm", "ES256"), signing_key=ctx["private_key_pem"],
        )  # fmt: skip
        return PrivateKeyJWTOAuthProvider(
            server_url=url, storage=_Memory(), client_id=ctx["client_id"],
            assertion_provider=jwt.create_assertion_provider(),
        )  # fmt: skip
    if scenario == "auth/cross-app-access-complete-flow":
        return _cross_app(url, ctx)
    from agentkit.mcp import oauth

    return oauth(
        url,
        open_url=follow_authorization,
        client_id=ctx.get("client_id"),
        client_secret=ctx.get("client_secret"),
        # A secret is bound to its authorization server: configuration in a deployment; the suite does not
        # pass it, so it is read from the resource's metadata here.
        issuer=_advertised_issuer(url) if ctx.get("client_secret") else None,
        client_metadata_url="https://conformance-test.local/client-metadata.json",
    )


def _advertised_issuer(url: str) -> str:
    from mcp.client.auth.utils import build_protected_resource_metadata_discovery_urls

    for prm_url in build_protected_resource_metadata_discovery_urls(None, url):
        answer = httpx2.get(prm_url, timeout=30.0)
        if answer.status_code == 200:
            return str(answer.json()["authorization_servers"][0])
    raise RuntimeError(f"no protected resource metadata for {url}")


def _cross_app(url: str, ctx: dict[str, Any]) -> Any:
    """SEP-990: the enterprise IdP's ID token exchanged there for an ID-JAG (leg 1, deployment-specific, so the
    SDK leaves it to the caller), which the SDK's provider presents to the MCP authorization server (leg 2)."""
    from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
    from mcp.client.auth.utils import build_protected_resource_metadata_discovery_urls

    # The issuer is configuration in SEP-990's trust model; the suite does not pass it, so it is read from the
    # resource's metadata here (a deployment would configure it).
    prm_url = build_protected_resource_metadata_discovery_urls(None, url)[0]
    prm = httpx2.get(prm_url, timeout=30.0).raise_for_status().json()

    async def fetch_id_jag(audience: str, resource: str) -> str:
        async with httpx2.AsyncClient(timeout=30.0) as http:
            answer = await http.post(ctx["idp_token_endpoint"], data={
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
                "subject_token": ctx["idp_id_token"],
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
                "audience": audience, "resource": resource, "client_id": ctx["idp_client_id"],
            })  # fmt: skip
        return str(answer.raise_for_status().json()["access_token"])

    return IdentityAssertionOAuthProvider(
        server_url=url, storage=_Memory(), client_id=ctx["client_id"], client_secret=ctx["client_secret"],
        issuer=prm["authorization_servers"][0], assertion_provider=fetch_id_jag,
        token_endpoint_auth_method="client_secret_basic",
    )  # fmt: skip


class _Memory:
    """The SDK's `TokenStorage`, in memory, for the SDK's own providers."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client_info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


def stub_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """The least arguments a tool's schema requires (auth scenarios call whatever tool the server has)."""
    typed = {"string": "x", "integer": 0, "number": 0, "boolean": False, "object": {}, "array": []}
    props = schema.get("properties", {})
    return {name: typed.get(props.get(name, {}).get("type"), "x") for name in schema.get("required", [])}


async def main(url: str, scenario: str) -> None:
    options: dict[str, Any] = {}
    if scenario.startswith("auth/"):
        options["auth"] = auth_for(scenario, url)
    if scenario == "elicitation-sep1034-client-defaults":
        options["elicit"] = elicit_defaults
    async with MCPToolset.http(url, **options) as toolset:
        tools = {t.name: t for t in await toolset.list_tools()}
        logger.info("tools: %s", sorted(tools))
        if scenario.startswith("auth/"):
            calls = [(name, stub_arguments(tools[name].parameters)) for name in list(tools)[:1]]
        else:
            calls = CALLS[scenario]
        for name, arguments in calls:
            result = await tools[name].acall(arguments)
            logger.info("%s -> %r", name, result)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    anyio.run(main, sys.argv[-1], os.environ.get("MCP_CONFORMANCE_SCENARIO", ""))
