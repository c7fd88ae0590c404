"""One way to get a `requests.Session` for calling another service, in either mode, under the service's
outbound policy (`harness.outbound`).

Simulated mode mounts an adapter that hands each request to the registered Flask (WSGI) app for
its host, in-process and with no sockets: `http://sendbird.local/v1/notifications` calls the fake
Sendbird's app directly. An unregistered host answers like an unreachable one (a
`requests.ConnectionError`), so simulated runs never reach the network and the policy has nothing to
guard there. Live mode uses real HTTP with connection pooling and a default timeout, through connections
that ask the policy before they connect: the host, then every address it resolves to, on the one
resolution the connection uses. Calling code is identical in both.
"""

from __future__ import annotations

import io
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from harness.outbound import LOOPBACK_ONLY, OutboundPolicy, OutboundRefused
from harness.urls import check_url

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

DEFAULT_TIMEOUT = (3.05, 30.0)


class _IterStream(io.RawIOBase):
    """A file-like over a WSGI body iterator, so `stream=True` reads (SSE) work in-process."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._iter: Iterator[bytes] = iter(chunks)
        self._closer = getattr(chunks, "close", None)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._iter)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None
        super().close()


class WSGIAdapter(BaseAdapter):
    """A requests adapter that calls a WSGI app instead of opening a socket."""

    def __init__(self, transport: Transport) -> None:
        super().__init__()
        self.transport = transport

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        url = urlsplit(request.url or "")
        host = url.hostname or ""
        app = self.transport.app_for(host, url.port)
        if app is None:
            raise requests.ConnectionError(
                f"simulated transport: no service is registered for host {host!r}", request=request)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):  # a file-like or generator body
            body = b"".join(body) if not hasattr(body, "read") else body.read()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method or "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(url.path or "/", "latin-1"),
            "QUERY_STRING": url.query,
            "SERVER_NAME": host,
            "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme or "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ["HTTP_" + key] = value

        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            captured["status"] = status
            captured["headers"] = headers
            return lambda data: None

        result = app(environ, start_response)
        response = requests.Response()
        if stream:
            iterator = iter(result)
            first = next(iterator, b"")  # runs the view so start_response has been called
            # unbuffered, so each event reaches the reader as soon as the app yields it
            response.raw = _IterStream(_chain(first, iterator, result))
        else:
            try:
                response._content = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        status = captured["status"]
        code, _, reason = status.partition(" ")
        response.status_code = int(code)
        response.reason = reason
        headers: CaseInsensitiveDict = CaseInsensitiveDict()
        for name, value in captured["headers"]:  # repeated headers join as urllib3 joins them
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        response.headers = headers
        response.encoding = get_encoding_from_headers(response.headers)
        response.url = request.url or ""
        response.request = request
        response.connection = self
        return response

    def close(self) -> None:
        pass


def _chain(first: bytes, rest: Iterator[bytes], original: Iterable[bytes]):
    try:
        yield first
        yield from rest
    finally:
        if hasattr(original, "close"):
            original.close()


class _Refusal(Exception):
    """An OutboundRefused on its way out of urllib3. urllib3 would wrap an OSError (which requests' errors
    are) as a failed attempt in a ProtocolError in a MaxRetryError; this passes through untouched, and the
    adapter raises the OutboundRefused it carries."""

    def __init__(self, refused: OutboundRefused) -> None:
        super().__init__(str(refused))
        self.refused = refused


def _connect(addresses: list[tuple[Any, ...]], timeout: float | None, source_address: Any,
             socket_options: Any) -> socket.socket:
    """A socket connected to the first of `addresses` that answers, as urllib3's create_connection does, but
    to these numeric addresses only: nothing is resolved again between the policy's check and the connect."""
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in addresses:
        sock = None
        try:
            sock = socket.socket(family, kind, proto)
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            if sock is not None:
                sock.close()
    raise error or OSError("getaddrinfo returned no address")


class _CheckedConnecting:
    """urllib3's `_new_conn` (resolve, connect, map the errors), with the outbound policy between the two."""

    policy: OutboundPolicy = LOOPBACK_ONLY  # the pool sets its own; the strictest one until then
    _dns_host: str
    host: str
    port: int
    timeout: float | None
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        try:
            addresses = self.policy.resolve(self._dns_host, self.port, allowed_gai_family())
        except OutboundRefused as exc:
            raise _Refusal(exc) from None
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        try:
            sock = _connect(addresses, self.timeout, self.source_address, self.socket_options)
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                            f"(connect timeout={self.timeout})") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock


class _CheckedHTTPConnection(_CheckedConnecting, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnecting, HTTPSConnection):
    pass


class _PolicyPool:
    """A pool whose connections carry its policy."""

    policy: OutboundPolicy = LOOPBACK_ONLY

    def _new_conn(self):
        conn = super()._new_conn()
        conn.policy = self.policy
        return conn


class _CheckedHTTPPool(_PolicyPool, HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(_PolicyPool, HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedPoolManager(PoolManager):
    def __init__(self, policy: OutboundPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy
        self.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}

    def _new_pool(self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None):
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.policy = self.policy
        return pool


class CheckedHTTPAdapter(HTTPAdapter):
    """requests' HTTP adapter whose every connection asks the outbound policy first. A refusal is an
    `OutboundRefused` before any socket connects; a redirect is a new connection, so it is asked too."""

    __attrs__ = [*HTTPAdapter.__attrs__, "policy"]

    def __init__(self, policy: OutboundPolicy, **kwargs: Any) -> None:
        self.policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _CheckedPoolManager(self.policy, num_pools=connections, maxsize=maxsize, block=block,
                                               **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any):
        """A proxy would make the connection the policy sees the proxy's, not the target's."""
        raise OutboundRefused(f"outbound calls take no proxy (asked to use {proxy!r})")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super().send(request, *args, **kwargs)
        except _Refusal as refusal:
            raise OutboundRefused(*refusal.refused.args, request=request) from None


class _TimeoutSession(requests.Session):
    """A session whose requests get a default timeout unless the caller gives one."""

    def __init__(self, timeout: Any) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, **kwargs)


class Client:
    """requests' adapter for the mode, without the Session around it, for hot service-to-service calls.

    A Session's own per-call work (merging settings, cookies, hooks, redirects) cost a quarter of a
    keep-alive POST on the bridge's send path (300 us of CPU through a Session against 223 us
    through the adapter); these calls use none of it. Same requests, same `requests.Response`, same
    exceptions, and `responses` still intercepts them in tests."""

    def __init__(self, adapter: BaseAdapter, timeout: Any) -> None:
        self.adapter = adapter
        self.timeout = timeout

    def request(self, method: str, url: str, *, params: Any = None, data: Any = None, json: Any = None,
                headers: dict[str, str] | None = None, timeout: Any = None) -> requests.Response:
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method, url=url, params=params, data=data, json=json, headers=headers)
        return self.adapter.send(prepared, timeout=timeout if timeout is not None else self.timeout)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)


class Transport:
    def __init__(self, simulated: bool, timeout: Any = DEFAULT_TIMEOUT, pool_size: int = 32,
                 outbound: OutboundPolicy = LOOPBACK_ONLY) -> None:
        self.simulated = simulated
        self.timeout = timeout
        self.pool_size = pool_size
        self.outbound = outbound
        self._apps: dict[str, WSGIApp] = {}
        self._lock = threading.Lock()

    def with_outbound(self, policy: OutboundPolicy) -> Transport:
        """This transport under another policy, sharing its registered apps: in one simulated process each
        service keeps the policy it was given while all of them reach each other."""
        view = Transport(self.simulated, self.timeout, self.pool_size, policy)
        view._apps, view._lock = self._apps, self._lock
        return view

    def check_url(self, url: object) -> str:
        """A URL being configured, normalised, or ValueError: its syntax (`harness.urls`), then, live, the
        outbound policy (`RefusedURL`). Simulated, every host is in-process and no socket ever opens."""
        checked = check_url(url)
        return checked if self.simulated else self.outbound.check_url(checked)

    def register(self, host: str, app: WSGIApp) -> None:
        """Route `http://host[:port]` to `app` (simulated mode); `host` may include a port."""
        with self._lock:
            self._apps[host.lower()] = app

    def unregister(self, host: str) -> None:
        with self._lock:
            self._apps.pop(host.lower(), None)

    def app_for(self, host: str, port: int | None = None) -> WSGIApp | None:
        host = host.lower()
        if port is not None:
            app = self._apps.get(f"{host}:{port}")
            if app is not None:
                return app
        return self._apps.get(host)

    @property
    def hosts(self) -> list[str]:
        return sorted(self._apps)

    def _adapter(self) -> BaseAdapter:
        if self.simulated:
            return WSGIAdapter(self)
        return CheckedHTTPAdapter(self.outbound, pool_connections=self.pool_size, pool_maxsize=self.pool_size,
                                  max_retries=0)

    def session(self, timeout: Any = None) -> requests.Session:
        session = _TimeoutSession(timeout if timeout is not None else self.timeout)
        # Harness calls go to local services: proxy variables and .netrc from the environment would
        # only misroute them, and reading them costs more than an in-process request.
        session.trust_env = False
        adapter = self._adapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def client(self, timeout: Any = None) -> Client:
        """A `Client` (adapter without Session) for hot paths; no proxies, cookies or redirects."""
        return Client(self._adapter(), timeout if timeout is not None else self.timeout)
