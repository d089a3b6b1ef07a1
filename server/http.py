"""The streamable HTTP transport: where it may bind, and the access token it demands.

The SDK's `MCPServer.run("streamable-http")` builds a Starlette app and runs it with
uvicorn, with no hook for a middleware; so we build the same app
(`MCPServer.streamable_http_app`), wrap it in `RequireToken` when a token is set, and
run it with uvicorn the way the SDK does.

Rules (README, "Security"):
- a loopback address (127.0.0.0/8, ::1, localhost) may be served without a token; the
  SDK's DNS-rebinding protection (Host and Origin must name the loopback) stays on;
- any other address needs a token, or the server refuses to start;
- with a token, every HTTP request must carry `Authorization: Bearer <token>`, else 401
  and nothing behind it runs. On a non-loopback address the Host check is off (the
  names a team reaches the server by are not known here): the token is what stops a
  DNS-rebinding page, because a browser never attaches it on its own.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

TOKEN_ENV = "CODEROWS_TOKEN"
UNAUTHORIZED_BODY = "401 Unauthorized: send the access token as 'Authorization: Bearer <token>'\n"


class RefusedToServe(ValueError):
    """The HTTP server must not start with these settings; the message says why."""


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve to anything
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a token: anyone who can reach the port
    would otherwise read the indexed code."""
    if not token and not is_loopback(host):
        shown = host or '""'
        raise RefusedToServe(
            f"refusing to serve on {shown} without an access token: pass --token or set {TOKEN_ENV}"
        )


def transport_security(host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection for a loopback address, whichever one (the SDK turns it on
    only for the exact strings 127.0.0.1, localhost and ::1); None elsewhere: the SDK then
    checks no Host header and the token guards the server."""
    if not is_loopback(host):
        return None
    bound = f"[{host.strip('[]')}]" if ":" in host else host
    hosts = ["127.0.0.1", "localhost", "[::1]", bound]
    unique = list(dict.fromkeys(hosts))
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in unique],
        allowed_origins=[f"http://{name}:*" for name in unique],
    )


class RequireToken:
    """ASGI middleware: an HTTP request without `Authorization: Bearer <token>` gets a 401
    and never reaches the MCP app. Lifespan events pass (they start the session manager)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        # The offered credentials are never logged: a near-miss token is still a secret.
        log.warning("refused a request from %s: missing or wrong access token", client[0] if client else "?")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = PlainTextResponse(
            UNAUTHORIZED_BODY, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="coderows"'}
        )
        await response(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        offered = _bearer(scope)
        # compare_digest: the time taken must not tell how much of a guess was right.
        return offered is not None and hmac.compare_digest(offered, self._expected)


def _bearer(scope: Scope) -> bytes | None:
    """The credentials of the request's first Authorization header, if its scheme is Bearer."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.strip().partition(b" ")
            return credentials.strip() if scheme.lower() == b"bearer" else None
    return None


def http_app(server: MCPServer, host: str, token: str | None) -> ASGIApp:
    """The SDK's streamable HTTP app (endpoint /mcp), behind the token when there is one."""
    app = server.streamable_http_app(host=host, transport_security=transport_security(host))
    return RequireToken(app, token) if token else app


def run_http(server: MCPServer, host: str, port: int, token: str | None) -> None:
    """Serve until interrupted; refuses (RefusedToServe) a non-loopback host without a token."""
    check_binding(host, token)
    import uvicorn  # as the SDK does: only the HTTP transport needs it

    config = uvicorn.Config(
        http_app(server, host, token), host=host, port=port, log_level=server.settings.log_level.lower()
    )
    anyio.run(uvicorn.Server(config).serve)
