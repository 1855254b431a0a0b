"""The API token: when ``MEDIA_PLATFORM_API_TOKEN`` is configured, every request carries it.

A client sends ``Authorization: Bearer <token>``; a browser signs in once on ``/login`` (a small
form, the only page served without the token), which sets an HttpOnly, SameSite=Strict cookie
(holding a digest of the token) that the editors' page then sends with every request. Tokens are compared in constant time
(:func:`hmac.compare_digest`). Without a configured token (loopback only: ``media-platform
serve`` refuses another address) nothing is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

COOKIE = "media_platform_token"
LOGIN_PATH = "/login"
MAX_LOGIN_BODY = 4096

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOGIN_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>media-platform: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto">
<h1>Sign in</h1>
<p>This server requires its API token (<code>MEDIA_PLATFORM_API_TOKEN</code>).</p>
<form method="post" action="/login">
<label>Token <input name="token" type="password" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button>
</form>
{problem}
</body></html>
"""


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def cookie_value(token: str) -> str:
    """What the sign-in cookie holds: a digest derived from the token (never the token itself,
    whose characters need not be cookie-safe)."""
    return hmac.new(token.encode("utf-8"), b"media-platform sign-in cookie", hashlib.sha256).hexdigest()


def presented_token(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The bearer token and the cookie token of a request (either may be None)."""
    bearer = cookie = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                bearer = credentials.strip()
        elif name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == COOKIE:
                    cookie = val
    return bearer, cookie


async def _send(send: Send, status: int, body: bytes, content_type: str,
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return body


class TokenMiddleware:
    """Refuses (401) every request that does not carry ``token``; serves ``/login``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie_value(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # none is served; refused all the same without the token
            bearer, cookie = presented_token(scope.get("headers", []))
            if token_matches(bearer, self.token) or token_matches(cookie, self.cookie):
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        if scope["path"] == LOGIN_PATH:
            await self._login(scope, receive, send)
            return
        bearer, cookie = presented_token(scope.get("headers", []))
        if token_matches(bearer, self.token) or token_matches(cookie, self.cookie):
            await self.app(scope, receive, send)
            return
        accept = dict(scope.get("headers", [])).get(b"accept", b"").decode("latin-1")
        if scope["method"] == "GET" and scope["path"] == "/" and "text/html" in accept:
            await _send(send, 303, b"", "text/plain", [(b"location", LOGIN_PATH.encode())])
            return
        problem = "wrong token" if (bearer or cookie) else "missing token"
        body = json.dumps({"detail": f"{problem}: send 'Authorization: Bearer <token>' "
                                     f"(MEDIA_PLATFORM_API_TOKEN) or sign in at {LOGIN_PATH}"}).encode()
        await _send(send, 401, body, "application/json", [(b"www-authenticate", b"Bearer")])

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET":
            await _send(send, 200, LOGIN_FORM.format(problem="").encode(), "text/html; charset=utf-8")
            return
        if scope["method"] != "POST":
            await _send(send, 405, b'{"detail": "GET or POST"}', "application/json", [(b"allow", b"GET, POST")])
            return
        body = await _read_body(receive, MAX_LOGIN_BODY)
        fields = parse_qs(body.decode("utf-8", "replace")) if body is not None else {}
        given = (fields.get("token") or [None])[0]
        if not token_matches(given, self.token):
            page = LOGIN_FORM.format(problem="<p role='alert'>Wrong token.</p>").encode()
            await _send(send, 401, page, "text/html; charset=utf-8")
            return
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}={self.cookie}; Path=/; HttpOnly; SameSite=Strict{secure}"
        await _send(send, 303, b"", "text/plain", [(b"location", b"/"), (b"set-cookie", cookie.encode("latin-1"))])


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SameOriginMiddleware:
    """Refuses (403) a state-changing request that a browser sent from another site.

    Browsers name the page's origin on such requests (``Origin``); a page elsewhere that posts to
    ``http://127.0.0.1:8000/labels/...`` (which needs no token on loopback) is turned away, while
    the editors' page (same origin) and programs (no ``Origin``) go through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = dict(scope.get("headers", []))
            origin = headers.get(b"origin")
            if origin is not None:
                origin_host = origin.decode("latin-1").partition("://")[2]
                if origin_host != headers.get(b"host", b"").decode("latin-1"):
                    body = json.dumps({"detail": "cross-site request refused: its Origin is not this server"}).encode()
                    await _send(send, 403, body, "application/json")
                    return
        await self.app(scope, receive, send)


LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


def host_name(host_header: str) -> str:
    """The name part of a Host header (``[::1]:8000`` -> ``::1``, ``localhost:8000`` -> ``localhost``)."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0]
    return host_header.rpartition(":")[0] if host_header.count(":") == 1 else host_header


class LoopbackHostMiddleware:
    """Without a token the server answers only requests addressed to a loopback name: a site
    whose name was re-pointed at 127.0.0.1 (DNS rebinding) is not this server to the browser."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
            if host_name(host).lower() not in LOOPBACK_NAMES:
                body = json.dumps({"detail": "this server answers requests to 127.0.0.1 or localhost only "
                                             "(set MEDIA_PLATFORM_API_TOKEN to serve other names)"}).encode()
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    await _send(send, 421, body, "application/json")
                return
        await self.app(scope, receive, send)
