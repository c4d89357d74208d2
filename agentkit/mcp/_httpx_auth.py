"""An `httpx.Auth` working for the MCP SDK's HTTP client (httpx2, a fork of httpx with its own classes)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncGenerator
from typing import Any

import httpx2


class FromHttpx(httpx2.Auth):
    """Runs an `httpx.Auth`'s flow over httpx2 requests: each request it yields is sent as an httpx2 request
    (its headers set on the original when it is the original), and each response goes back to it as an httpx
    response."""

    requires_request_body = True

    def __init__(self, auth: Any) -> None:
        self._auth = auth

    @property
    def requires_response_body(self) -> bool:  # type: ignore[override]
        return bool(getattr(self._auth, "requires_response_body", False))

    def __repr__(self) -> str:
        return f"FromHttpx({type(self._auth).__name__})"

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        httpx = importlib.import_module("httpx")  # there when the user's auth is an httpx.Auth

        mirror = httpx.Request(
            request.method, str(request.url), headers=list(request.headers.multi_items()), content=request.content
        )
        flow = self._auth.async_auth_flow(mirror)
        try:
            outgoing = await flow.__anext__()
            while True:
                if outgoing is mirror:
                    for name in list(request.headers):
                        if name not in mirror.headers:
                            del request.headers[name]
                    for name, value in mirror.headers.items():
                        request.headers[name] = value
                    sent = request
                else:
                    sent = httpx2.Request(
                        outgoing.method, str(outgoing.url), headers=list(outgoing.headers.multi_items()),
                        content=outgoing.content,
                    )  # fmt: skip
                response = yield sent
                body = await response.aread() if self.requires_response_body else b""
                back = httpx.Response(
                    response.status_code, headers=list(response.headers.multi_items()), content=body, request=outgoing
                )
                outgoing = await flow.asend(back)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()
