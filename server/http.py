"""The streamable HTTP transport: where it may bind, and the access token it demands.

The SDK's `MCPServer.run("streamable-http")` builds a Starlette app and runs it with
uvicorn, with no hook for a middleware; so we build the same app
(`MCPServer.streamable_http_app`), wrap it in `RequireToken` when a token is set, and
run it with uvicorn the way the SDK does.

Rules (README, "Security"):
- a loopback address (127.0.0.0/8, ::1, localhost) may be served without a token, and
  then every request's Host (and Origin, when sent) must name the loopback: DNS-rebinding
  protection. `LoopbackNamesOnly` checks it, not the SDK's exact-string list, which
  refused `Host: 127.0.0.1` without a port (any client of `--port 80`), `LOCALHOST:8000`
  (host names are case-insensitive) and `Origin: http://localhost`. The port is not
  checked: a rebinding page cannot make a browser send a loopback name as its Host;
- any other address needs a token, or the server refuses to start;
- with a token, every HTTP request must carry `Authorization: Bearer <token>`, else 401
  and nothing behind it runs. On a non-loopback address the Host check is off (the
  names a team reaches the server by are not known here): the token is what stops a
  DNS-rebinding page, because a browser never attaches it on its own.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
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


# The SDK's own Host/Origin check stays off: LoopbackNamesOnly does it (see above). It
# would otherwise turn itself on for 127.0.0.1, localhost and ::1 with its exact strings.
SDK_HOST_CHECK_OFF = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def names_loopback(hostname: str) -> bool:
    """Whether a Host or Origin's host name (no port) can only mean this machine:
    localhost in any letter case (with or without the root's trailing dot), or a
    loopback IP literal (127.0.0.0/8, [::1], ::ffff:127.x)."""
    name = hostname.strip().lower().removesuffix(".")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def host_allowed(host: str | None) -> bool:
    """Whether a Host header names the loopback, with or without a port."""
    if not host:
        return False
    name = host.strip()
    if name.startswith("["):  # an IPv6 literal: [::1] or [::1]:8000
        hostname, _, rest = name.partition("]")
        hostname += "]"
        port = rest.removeprefix(":") if rest.startswith(":") else None if not rest else "invalid"
    else:
        hostname, colon, port_text = name.rpartition(":")
        hostname, port = (hostname, port_text) if colon else (name, None)
    return (port is None or valid_port(port)) and names_loopback(hostname)


def valid_port(port: str) -> bool:
    return port.isdigit() and len(port) <= 5 and int(port) <= 65535


def origin_allowed(origin: str | None) -> bool:
    """Whether an Origin header is absent (not a browser's cross-site request) or an
    http(s) page on a loopback name, with or without a port."""
    if origin is None:
        return True
    try:
        parts = urlsplit(origin.strip())
        port_ok = parts.port is None or parts.port <= 65535  # .port raises on a malformed port
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        return False
    if parts.path or parts.query or parts.fragment or parts.username is not None:
        return False
    return names_loopback(parts.hostname)


class LoopbackNamesOnly:
    """ASGI middleware: an HTTP request whose Host does not name the loopback gets 421,
    one whose Origin is a page elsewhere gets 403 (as the SDK answers them); nothing
    behind it runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not host_allowed(headers.get("host")):
            log.warning("refused a request for another host (DNS rebinding?): %r", headers.get("host", "")[:100])
            await PlainTextResponse("Invalid Host header", status_code=421)(scope, receive, send)
            return
        if not origin_allowed(headers.get("origin")):
            log.warning("refused a request from a page elsewhere: %r", headers.get("origin", "")[:100])
            await PlainTextResponse("Invalid Origin header", status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


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
    """The SDK's streamable HTTP app (endpoint /mcp), behind the loopback-names check on
    a loopback address and behind the token when there is one."""
    app: ASGIApp = server.streamable_http_app(host=host, transport_security=SDK_HOST_CHECK_OFF)
    if is_loopback(host):
        app = LoopbackNamesOnly(app)
    return RequireToken(app, token) if token else app


def run_http(
    server: MCPServer, host: str, port: int, token: str | None, *, announce: Callable[[str], None] | None = None
) -> None:
    """Serve until interrupted; refuses (RefusedToServe) a non-loopback host without a token
    or a port it cannot listen on. `announce` gets the endpoint's URL once it listens."""
    check_binding(host, token)
    import uvicorn  # as the SDK does: only the HTTP transport needs it

    listener = listen(host, port)
    if announce:
        announce(endpoint_url(host, listener.getsockname()[1]))
    config = uvicorn.Config(
        http_app(server, host, token), host=host, port=port, log_level=server.settings.log_level.lower()
    )
    anyio.run(functools.partial(uvicorn.Server(config).serve, sockets=[listener]))


MCP_PATH = "/mcp"  # where MCPServer.streamable_http_app serves


def listen(host: str, port: int) -> socket.socket:
    """A socket bound as uvicorn binds one (IPv6 when the host has a colon), so that the
    URL is printed only once the port is really ours; a taken port is one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host.strip("[]"), port))
    except OSError as error:
        listener.close()
        raise RefusedToServe(f"cannot listen on {host}:{port}: {error.strerror or error}; choose another --port or --host") from None
    listener.set_inheritable(True)
    return listener


def endpoint_url(host: str, port: int) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}{MCP_PATH}"
