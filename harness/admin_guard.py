"""Who may use a service's admin API: the local operator and the console, never a web page the operator visits.

The services run on a developer's laptop next to a browser, and `/_admin` can reset a fake, plant an API key
or read the integration's credentials. Any page the developer opens could otherwise reach it: a form or a
`fetch(..., {mode: "no-cors"})` posts `text/plain` to 127.0.0.1 without asking anyone, and a DNS-rebinding
page (its own name pointed at 127.0.0.1) can even read the answers. So every request on an admin path
passes four checks, in this order, before any view runs:

1. **Host**: the name the request is addressed to must be loopback (`localhost`, `*.localhost`,
   `127.0.0.0/8`, `[::1]`), a host the service was started as (`--host` when it names one, `--allowed-host`),
   or, in-process, a name the service is registered under on the simulated transport. A rebinding page
   addresses its own name, so it stops here (403).
2. **Origin**: a browser says which page sent a request. Only the service's own origin and the console's
   (`--console-origin`) pass; `null` and every other site are refused, and so is `Sec-Fetch-Site:
   cross-site` (403). No Origin (curl, a server-side client) passes.
3. **Admin token**: when the service has one (`--admin-token`), `X-Admin-Token` must carry it (401).
   A service that binds beyond loopback refuses to start without one.
4. **Content-Type**: a body must be `application/json` (parameters allowed), or a type the route declares
   with `accepts_body` (415). JSON is not a type a page may send to another site without a CORS preflight,
   which these services never grant; text/plain, forms and multipart are.

The guard is WSGI middleware, outermost in each service's stack, so it covers the same app in-process
(`harness.transport`) and live (the gateway hands it every request it does not answer on a fast route, and
leaves guarded paths off its fast table). Refusals are worded here and written in the product's format by
the renderer each service passes. The client side (sending the token) is `harness.admin_client`.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field
from werkzeug.exceptions import HTTPException

from harness.outbound import ip_of
from harness.urls import normalise_host

ADMIN_PREFIX = "/_admin"
TOKEN_HEADER = "X-Admin-Token"
SHARED_TOKEN_ENV = "BSIM_ADMIN_TOKEN"  # read by every service (after its own variable) and every harness client
DEFAULT_CONSOLE_ORIGINS = "http://127.0.0.1:7000,http://localhost:7000"
JSON_TYPE = "application/json"
DEFAULT_PORTS = {"http": 80, "https": 443}
_PORT = re.compile(r"^[0-9]{1,5}$")
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # it travels in a header: printable ASCII, no spaces

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Origin = tuple[str, str, int]  # (scheme, host, port), the port filled in from the scheme


@dataclass(frozen=True)
class Refusal:
    """Why an admin request is refused: the HTTP status, a short reason for tests and logs, and the message
    the operator reads (what was refused, and how to do it right)."""

    status: int
    reason: str  # host | origin | fetch-site | token | content-type
    message: str


Renderer = Callable[[Refusal], Any]  # a refusal as the product's JSON error body


# -- reading hosts and origins ---------------------------------------------------------------------------

def host_key(host: str) -> str:
    """A host as the guard compares it: an IP address in its canonical text (IPv6 without brackets, an
    IPv4-mapped address as IPv4), a name lower-cased without a trailing dot. ValueError for neither."""
    address = ip_of(host) if "%" not in host else None
    if address is not None:
        return str(address)
    if ":" in host or host.startswith("["):
        raise ValueError(f"{host!r} is not a host name or an IP address")
    name = normalise_host(host, host).removesuffix(".")
    if not name:
        raise ValueError("the host is empty")
    return name


def split_host(text: str) -> tuple[str, int | None]:
    """A `Host` header (or an origin's host part) as (host_key, port or None). ValueError when it is not
    `name`, `address`, `[IPv6]`, each with an optional port, in ASCII (browsers send names in punycode; a
    `localhost` in full-width letters would otherwise be normalised into `localhost`)."""
    if not text.isascii():
        raise ValueError(f"{text!r} is not ASCII")
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[:end + 1], text[end + 1:]
        if end < 0:
            raise ValueError(f"{text!r} opens a bracket it does not close")
    else:
        host, colon, port = text.rpartition(":")
        host, rest = (host, colon + port) if colon else (text, "")
    if rest and not (rest.startswith(":") and _PORT.match(rest[1:]) and int(rest[1:]) <= 65535):
        raise ValueError(f"{text!r} has an invalid port")
    return host_key(host), int(rest[1:]) if rest else None


def parse_origin(text: str) -> Origin:
    """`scheme://host[:port]` as a browser serialises an origin, or ValueError (`null` included)."""
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS or not rest or any(c in rest for c in "/?#@"):
        raise ValueError(f"{text!r} is not an origin (scheme://host[:port])")
    host, port = split_host(rest)
    return scheme, host, port if port is not None else DEFAULT_PORTS[scheme]


def show_origin(origin: Origin) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if DEFAULT_PORTS[scheme] == port else f":{port}")


def is_loopback_host(key: str) -> bool:
    """`localhost`, a name under `.localhost` (browsers resolve those to loopback themselves), or a loopback
    address; `key` as `host_key` gives it."""
    if key == "localhost" or key.endswith(".localhost"):
        return True
    address = ip_of(key)
    return address is not None and address.is_loopback


def binds_beyond_loopback(bind_host: str) -> bool:
    """Whether a server bound to `bind_host` can be reached from other machines: anything but `localhost`
    and a loopback address (so `0.0.0.0`, `::`, a LAN address, a name)."""
    try:
        return not is_loopback_host(host_key(bind_host.strip()))
    except ValueError:
        return True


def _list(value: str) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


# -- the decision -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AdminRequest:
    """What the guard reads of a request: a few headers, as sent."""

    host: str | None
    scheme: str = "http"
    origin: str | None = None
    fetch_site: str | None = None
    token: str | None = None
    content_type: str | None = None
    has_body: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> AdminRequest:
        length = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        return cls(host=environ.get("HTTP_HOST") or environ.get("SERVER_NAME"),
                   scheme=environ.get("wsgi.url_scheme", "http"), origin=environ.get("HTTP_ORIGIN"),
                   fetch_site=environ.get("HTTP_SEC_FETCH_SITE"), token=environ.get("HTTP_X_ADMIN_TOKEN"),
                   content_type=environ.get("CONTENT_TYPE"),
                   has_body=chunked or (bool(length) and (not length.isdigit() or int(length) > 0)))


def media_type(content_type: str | None) -> str:
    """`application/json` of `application/json; charset=utf-8`; '' for none."""
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class AdminPolicy:
    """What a service's admin API answers to, from its flags. `env_prefix` (`BRAZE_`) names the service's
    environment variables in refusals, so the operator reads both ways to fix one."""

    hosts: frozenset[str] = frozenset()  # host_keys beyond loopback: --host (a specific one), --allowed-host
    console_origins: frozenset[Origin] = field(default_factory=lambda: frozenset(
        parse_origin(o) for o in _list(DEFAULT_CONSOLE_ORIGINS)))
    token: str | None = None
    env_prefix: str = ""

    @classmethod
    def parse(cls, *, bind_host: str = "127.0.0.1", allowed_hosts: str = "",
              console_origins: str = DEFAULT_CONSOLE_ORIGINS, token: str | None = None,
              env_prefix: str = "") -> AdminPolicy:
        """The policy of the flags' values; ValueError naming the flag and the entry it cannot read."""
        hosts: set[str] = set()
        for item in _list(allowed_hosts):
            if item == "*":
                raise ValueError("--allowed-host: '*' would answer any name, DNS rebinding included: list the names")
            try:
                hosts.add(host_key(item))
            except ValueError as exc:
                raise ValueError(f"--allowed-host: {item!r} is not a host name or an IP address (no ports or "
                                 f"schemes): {exc}") from None
        if binds_beyond_loopback(bind_host):
            try:
                key = host_key(bind_host.strip())
                if not (address := ip_of(key)) or not address.is_unspecified:
                    hosts.add(key)  # a specific address or name is what clients address it as
            except ValueError:
                raise ValueError(f"--host: {bind_host!r} is not a host name or an IP address") from None
        origins: set[Origin] = set()
        for item in _list(console_origins):
            try:
                origins.add(parse_origin(item))
            except ValueError as exc:
                raise ValueError(f"--console-origin: {exc}") from None
        if token is not None and not _TOKEN.match(token):
            raise ValueError("--admin-token: the token travels in an HTTP header: printable ASCII without spaces")
        return cls(frozenset(hosts), frozenset(origins), token or None, env_prefix)

    def describe(self) -> str:
        """Who may call `/_admin`, in words, for a service's start-up line."""
        hosts = "loopback" + (f" and {', '.join(sorted(self.hosts))}" if self.hosts else "")
        return f"/_admin answers {hosts}" + (f", with {TOKEN_HEADER}" if self.token else "")

    def flag_hint(self, flag: str, *shared: str) -> str:
        """`--allowed-host (or BRAZE_ALLOWED_HOST)`: a flag with the environment variables that set it."""
        names = ([f"{self.env_prefix}{flag[2:].replace('-', '_').upper()}"] if self.env_prefix else []) + list(shared)
        return f"{flag} (or {', '.join(names)})" if names else flag

    def decide(self, request: AdminRequest, served: Collection[str] = (),
               accepted: Callable[[], Collection[str]] = tuple) -> Refusal | None:
        """None when the request may go on; else the first check it fails. `served` are host names the
        service answers in-process; `accepted` gives the body types its route declares besides JSON (asked
        only for a body of another type)."""
        host = self._host(request, served)
        if isinstance(host, Refusal):
            return host
        return self._origin(request, host) or self._token(request) or self._content_type(request, accepted)

    def _host(self, request: AdminRequest, served: Collection[str]) -> tuple[str, int | None] | Refusal:
        shown = request.host or ""
        try:
            key, port = split_host(shown)
        except ValueError:
            key, port = "", None
        if key and (is_loopback_host(key) or key in self.hosts or key in served):
            return key, port
        also = sorted(self.hosts | set(served))
        return Refusal(403, "host", f'Host "{shown}" is not this service: admin requests must be addressed to '
                                    f"loopback (localhost, 127.0.0.1, [::1])"
                                    + (f" or to {', '.join(also)}" if also else "")
                                    + f"; to answer another name, start the service with "
                                      f"{self.flag_hint('--allowed-host')}")

    def _origin(self, request: AdminRequest, host: tuple[str, int | None]) -> Refusal | None:
        scheme = request.scheme if request.scheme in DEFAULT_PORTS else "http"
        own = (scheme, host[0], host[1] if host[1] is not None else DEFAULT_PORTS[scheme])
        allowed = sorted(show_origin(o) for o in self.console_origins)
        if request.origin is not None:
            try:
                origin = parse_origin(request.origin.strip())
            except ValueError:
                origin = None
            if origin != own and origin not in self.console_origins:
                said = f'Origin "{request.origin}" is another site: admin requests are refused from web pages ' \
                       f"other than this service's own ({show_origin(own)})"
                if not allowed:  # the console itself: no other page may drive it, and it takes no such flag
                    return Refusal(403, "origin", f"{said}; this service answers only its own pages, a terminal "
                                                  f"or a server")
                return Refusal(403, "origin", f"{said} and the console's ({', '.join(allowed)}); call it from a "
                                              f"terminal or a server (no Origin), or allow the console's origin "
                                              f"with {self.flag_hint('--console-origin')}")
        if (request.fetch_site or "").strip().lower() == "cross-site":
            return Refusal(403, "fetch-site", 'Sec-Fetch-Site "cross-site": a web page on another site sent this '
                                              "request, and admin requests are refused from other sites")
        return None

    def _token(self, request: AdminRequest) -> Refusal | None:
        if self.token is None:
            return None
        given = request.token
        if given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                                     self.token.encode("utf-8")):
            return None
        where = self.flag_hint("--admin-token", SHARED_TOKEN_ENV)
        if given is None:
            return Refusal(401, "token", f"{TOKEN_HEADER} is required: this service was started with {where}; "
                                         f"send the token in the {TOKEN_HEADER} header (the harness's clients "
                                         f"send {SHARED_TOKEN_ENV})")
        return Refusal(401, "token", f"{TOKEN_HEADER} is not this service's admin token ({where}); send the "
                                     f"token it was started with")

    def _content_type(self, request: AdminRequest, accepted: Callable[[], Collection[str]]) -> Refusal | None:
        if not request.has_body:
            return None
        media = media_type(request.content_type)
        if media == JSON_TYPE:
            return None
        others = tuple(accepted())
        if media in others:
            return None
        shown = f'Content-Type "{request.content_type}"' if request.content_type else "A body without a Content-Type"
        takes = " or ".join((JSON_TYPE, *others))
        return Refusal(415, "content-type", f"{shown} is refused: an admin request body must be {takes} (any web "
                                            f"page can send text/plain, forms and multipart to this service; "
                                            f"JSON it cannot)")


# -- the middleware ---------------------------------------------------------------------------------------

def accepts_body(*media_types: str) -> Callable[[Callable], Callable]:
    """Declare the body types an admin view takes besides JSON, e.g. `@accepts_body("text/csv")`. Only types
    a browser must preflight belong here: never text/plain, forms or multipart."""
    def mark(view: Callable) -> Callable:
        view.admin_body_types = tuple(t.lower() for t in media_types)
        return view
    return mark


def declared_body_types(flask_app: Any) -> Callable[[Mapping[str, Any]], Collection[str]]:
    """The body types the view a request routes to declared with `accepts_body` (none for no route)."""
    def accepted(environ: Mapping[str, Any]) -> Collection[str]:
        try:
            endpoint, _ = flask_app.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return ()
        return getattr(flask_app.view_functions.get(endpoint), "admin_body_types", ())
    return accepted


def _no_names() -> Collection[str]:
    return ()


def _host_keys(names: Iterable[str]) -> set[str]:
    """The host part of each registered `host[:port]`, as the guard compares hosts."""
    keys = set()
    for name in names:
        try:
            keys.add(split_host(name)[0])
        except ValueError:
            continue
    return keys


class AdminGuard:
    """WSGI middleware: requests on the `prefixes` pass the policy or get the service's refusal; every other
    request goes to `app` untouched. It keeps what it wraps as `app`, as every harness middleware does."""

    def __init__(self, app: WSGIApp, policy: AdminPolicy, render: Renderer, *,
                 prefixes: Iterable[str] = (ADMIN_PREFIX,), served_names: Callable[[], Collection[str]] = _no_names,
                 body_types: Callable[[Mapping[str, Any]], Collection[str]] = lambda environ: ()) -> None:
        self.app = app
        self.policy = policy
        self.render = render
        self.prefixes = tuple(p.rstrip("/") for p in prefixes)
        self.served_names = served_names
        self.body_types = body_types

    def covers(self, path: str) -> bool:
        """Whether `path` is guarded; repeated slashes count as one (a router may fold them)."""
        path = re.sub("/{2,}", "/", path)
        return any(not p or path == p or path.startswith(p + "/") for p in self.prefixes)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self.covers(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        served = _host_keys(self.served_names())
        refusal = self.policy.decide(AdminRequest.from_environ(environ), served,
                                     lambda: self.body_types(environ))
        if refusal is None:
            return self.app(environ, start_response)
        payload = (json.dumps(self.render(refusal), separators=(",", ":")) + "\n").encode("utf-8")
        start_response(f"{refusal.status} {HTTPStatus(refusal.status).phrase}",
                       [("Content-Type", JSON_TYPE), ("Content-Length", str(len(payload)))])
        return [payload]


def guard_admin(flask_app: Any, policy: AdminPolicy | None, render: Renderer, transport: Any = None,
                prefixes: Iterable[str] = (ADMIN_PREFIX,)) -> AdminGuard:
    """Put an `AdminGuard` outermost around `flask_app`'s WSGI stack. With the runtime's `transport`, the
    names the app is registered under in-process are its own names too (`http://braze.local`)."""
    def served() -> Collection[str]:
        return transport.names_for(flask_app) if transport is not None else ()

    guard = AdminGuard(flask_app.wsgi_app, policy or AdminPolicy(), render, prefixes=prefixes, served_names=served,
                       body_types=declared_body_types(flask_app))
    flask_app.wsgi_app = guard
    return guard


# -- a service's command line ---------------------------------------------------------------------------

class AdminSettings(BaseModel):
    """The admin flags every service takes (its settings model inherits them)."""

    admin_token: str | None = Field(None, description=f"token required in {TOKEN_HEADER} on every /_admin request; "
                                                      f"required to bind beyond loopback (falls back to "
                                                      f"{SHARED_TOKEN_ENV})")
    allowed_host: str = Field("", description="host names and addresses beyond loopback that /_admin answers "
                                              "requests addressed to (comma-separated)")
    console_origin: str = Field(DEFAULT_CONSOLE_ORIGINS, description="web origins, besides the service's own, "
                                                                     "allowed to call /_admin (comma-separated)")


def policy_from_settings(prog: str, settings: Any, env_prefix: str,
                         environ: Mapping[str, str] | None = None) -> AdminPolicy:
    """The admin policy a service's flags (an `AdminSettings` with `host`) ask for, or exit with one line:
    a value it cannot read, or a bind beyond loopback without an admin token."""
    environ = os.environ if environ is None else environ
    token = settings.admin_token or environ.get(SHARED_TOKEN_ENV) or None
    try:
        policy = AdminPolicy.parse(bind_host=settings.host, allowed_hosts=settings.allowed_host,
                                   console_origins=settings.console_origin, token=token, env_prefix=env_prefix)
    except ValueError as exc:
        sys.exit(f"{prog}: {exc}")
    if policy.token is None and binds_beyond_loopback(settings.host):
        sys.exit(f"{prog}: --host {settings.host} opens /_admin to the network: start it with "
                 f"{policy.flag_hint('--admin-token', SHARED_TOKEN_ENV)}, and give the harness's clients the same "
                 f"token in {SHARED_TOKEN_ENV}")
    return policy
