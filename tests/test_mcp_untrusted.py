"""Untrusted server text made safe for logs and errors (agentkit.mcp._untrusted), and where it is used: server
log messages, authorization errors, the authorization server's error_description."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("mcp")
from mcp.types import LoggingMessageNotificationParams

from agentkit.mcp._asking import Asking
from agentkit.mcp._auth import auth_failure, authorization_error
from agentkit.mcp._untrusted import sanitise

pytestmark = pytest.mark.anyio
HOSTILE = "ok\n2026-12-08 INFO agentkit: forged line\x1b[2J\x1b]0;title\x07\u202eevil\r"


def test_sanitise_escapes_control_characters_and_cuts():
    said = sanitise(HOSTILE)
    assert "\n" not in said and "\x1b" not in said and "\r" not in said and "\u202e" not in said and "\x07" not in said
    assert "\\n2026-12-08" in said and "\\x1b[2J" in said and "\\u202e" in said
    long = sanitise("x" * 5000)
    assert long.startswith("x" * 1000) and "4000 more characters" in long and len(long) < 1100


def test_plain_text_is_left_as_it_is():
    assert sanitise("Café – ok: 100% {json}") == "Café – ok: 100% {json}"


async def test_a_servers_log_message_cannot_forge_log_lines_or_send_escapes(caplog):
    caplog.set_level(logging.DEBUG, logger="agentkit.mcp")
    log = Asking(where="srv").callbacks(lambda: [])["logging_callback"]
    await log(LoggingMessageNotificationParams(level="error", logger="l\nx", data=HOSTILE))
    (record,) = [r for r in caplog.records if r.name == "agentkit.mcp"]
    text = record.getMessage()
    assert "\n" not in text and "\x1b" not in text and "forged line" in text


async def test_a_flood_of_server_log_messages_is_rate_limited_per_connection(caplog):
    caplog.set_level(logging.DEBUG, logger="agentkit.mcp")
    asking = Asking(where="srv")
    one, other = asking.callbacks(lambda: [])["logging_callback"], asking.callbacks(lambda: [])["logging_callback"]
    for i in range(3000):
        await one(LoggingMessageNotificationParams(level="error", data=f"message {i}"))
    await other(LoggingMessageNotificationParams(level="error", data="from another connection"))
    from_server = [r for r in caplog.records if r.name == "agentkit.mcp"]
    assert len(from_server) < 300
    assert any("from another connection" in r.getMessage() for r in from_server)
    assert any("dropped" in r.getMessage() for r in caplog.records)


def test_an_authorization_challenge_is_sanitised_and_cut():
    error = authorization_error("srv", 401, f'Bearer error_description="{HOSTILE}{"y" * 5000}"',
                                credentials=None, redact=str)  # fmt: skip
    assert "\x1b" not in str(error) and "\n" not in str(error) and len(str(error)) < 1500
    assert error.www_authenticate is not None and "\x1b" not in error.www_authenticate


def test_an_oauth_flow_error_such_as_a_token_endpoints_body_is_sanitised_and_cut():
    from mcp.client.auth import OAuthFlowError

    class _Auth:
        refused = None
        credentials = None

    body = HOSTILE + "z" * 1_000_000
    error = auth_failure(OAuthFlowError(f"Token exchange failed (400): {body}"), _Auth(), "srv", redact=str)  # type: ignore[arg-type]
    assert error is not None and "\x1b" not in str(error) and len(str(error)) < 2000


async def test_the_authorization_servers_error_description_is_sanitised():
    from mcp.client.auth import OAuthFlowError

    from agentkit.mcp import oauth

    provider = oauth("http://127.0.0.1:1/mcp", open_url=lambda url: None)
    provider._answer = "http://127.0.0.1/callback?error=access_denied&error_description=%1B%5B31mred%0Aforged&state=s"
    with pytest.raises(OAuthFlowError) as caught:
        await provider._redirected()
    assert "\x1b" not in str(caught.value) and "\n" not in str(caught.value) and "red" in str(caught.value)


def test_text_at_the_limit_is_whole_and_one_more_character_is_counted():
    from agentkit.mcp._untrusted import sanitise

    assert sanitise("a" * 10, limit=10) == "a" * 10
    assert sanitise("a" * 11, limit=10) == "a" * 10 + "… (1 more characters)"
    assert sanitise("a" * 9, limit=10) == "a" * 9
