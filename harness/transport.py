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
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests import compat as _requests_compat
from requests.adapters import BaseAdapter
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, get_encoding_from_headers

from harness.faults.inbound import READ_TIMEOUT, NoAnswer
from harness.faults.outbound import FaultingAdapter
from harness.faults.rules import FaultRules
from harness.outbound import LOOPBACK_ONLY, OutboundPolicy
from harness.outbound_http import CheckedHTTPAdapter, DirectLane
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
        if app is None and self.transport.fallback is not None:
            return self.transport.fallback.send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                                                proxies=proxies)
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
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if read_timeout is not None:
            environ[READ_TIMEOUT] = float(read_timeout)
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

        try:
            result = app(environ, start_response)
        except NoAnswer as no_answer:  # a fault rule of the called service: what the caller's socket would say
            if no_answer.kind == "drop":
                raise requests.ConnectionError(str(no_answer), request=request) from None
            raise requests.ReadTimeout(str(no_answer), request=request) from None
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
            _check_length(captured["headers"], response._content, request)
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


def _check_length(headers: list[tuple[str, str]], body: bytes, request: requests.PreparedRequest) -> None:
    """A body shorter than its declared length is what a socket gives when the connection breaks mid-answer;
    requests raises then, and so does this transport (a fault rule's `malformed` sends such answers)."""
    declared = next((value for name, value in headers if name.lower() == "content-length"), None)
    if declared is not None and declared.isdigit() and len(body) < int(declared):
        raise requests.exceptions.ChunkedEncodingError(
            f"Connection broken: IncompleteRead({len(body)} bytes read, {int(declared) - len(body)} more expected)",
            request=request)


def _chain(first: bytes, rest: Iterator[bytes], original: Iterable[bytes]):
    try:
        yield first
        yield from rest
    finally:
        if hasattr(original, "close"):
            original.close()


class _TimeoutSession(requests.Session):
    """A session whose requests get a default timeout unless the caller gives one."""

    def __init__(self, timeout: Any) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, **kwargs)


# A URL requests' `prepare_url` leaves exactly as it is: scheme, a lower-case ASCII host and port, a path of
# unreserved characters. The services' calls are all of this kind (a configured base and a fixed path).
_LABEL = r"[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
_PLAIN_URL = re.compile(rf"https?://{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?/[A-Za-z0-9._~\-/]*")


complexjson = _requests_compat.json  # what requests encodes a `json=` body with


def _prepared(method: str, url: str, json: Any, headers: dict[str, str] | None) -> requests.PreparedRequest | None:
    """What `PreparedRequest.prepare` makes of a call with a plain URL and a JSON body or none, built directly
    (its URL parsing, auth and cookie steps do nothing for such a call and cost about 20 us); None for any
    other call, which goes through `prepare`."""
    if not _PLAIN_URL.fullmatch(url):
        return None
    prepared = requests.PreparedRequest()
    prepared.method = method.upper()
    prepared.url = url
    prepared.headers = CaseInsensitiveDict()
    for header in (headers or {}).items():
        check_header_validity(header)
        prepared.headers[header[0]] = header[1]
    prepared._cookies = None
    prepared.hooks = default_hooks()
    prepared._body_position = None
    if json is None:
        prepared.body = None
        if prepared.method not in ("GET", "HEAD") and "Content-Length" not in prepared.headers:
            prepared.headers["Content-Length"] = "0"
        return prepared
    try:
        body = complexjson.dumps(json, allow_nan=False).encode("utf-8")
    except ValueError as exc:
        raise requests.exceptions.InvalidJSONError(exc, request=prepared) from None
    prepared.body = body
    prepared.headers["Content-Length"] = str(len(body))
    if "content-type" not in prepared.headers:  # after the length, in requests' order
        prepared.headers["Content-Type"] = "application/json"
    return prepared


class Client:
    """requests' adapter for the mode, without the Session around it, for hot service-to-service calls.

    A Session's own per-call work (merging settings, cookies, hooks, redirects) cost a quarter of a
    keep-alive POST on the bridge's send path (300 us of CPU through a Session against 223 us
    through the adapter); these calls use none of it. Live, plain HTTP goes further down, straight to the
    adapter's checked urllib3 pools (`harness.outbound_http.DirectLane`), unless outbound fault rules are
    active. Same requests, same `requests.Response`, same exceptions, and `responses` still intercepts them
    in tests."""

    def __init__(self, adapter: BaseAdapter, timeout: Any) -> None:
        self.adapter = adapter
        self.timeout = timeout
        faulting = isinstance(adapter, FaultingAdapter)
        self._faults = adapter.rules if faulting else None  # while they have outbound rules, the adapter decides
        inner = adapter.inner if faulting else adapter
        self._lane = DirectLane(inner) if isinstance(inner, CheckedHTTPAdapter) else None

    def request(self, method: str, url: str, *, params: Any = None, data: Any = None, json: Any = None,
                headers: dict[str, str] | None = None, timeout: Any = None) -> requests.Response:
        prepared = _prepared(method, url, json, headers) if params is None and data is None else None
        if prepared is None:
            prepared = requests.PreparedRequest()
            prepared.prepare(method=method, url=url, params=params, data=data, json=json, headers=headers)
        timeout = timeout if timeout is not None else self.timeout
        lane = self._lane
        if lane is not None and lane.takes(prepared) and not (self._faults is not None and self._faults.has_outbound):
            return lane.send(prepared, timeout)
        return self.adapter.send(prepared, timeout=timeout)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)


class Transport:
    def __init__(self, simulated: bool, timeout: Any = DEFAULT_TIMEOUT, pool_size: int = 32,
                 outbound: OutboundPolicy = LOOPBACK_ONLY, faults: FaultRules | None = None) -> None:
        self.simulated = simulated
        self.timeout = timeout
        self.pool_size = pool_size
        self.outbound = outbound
        self.faults = faults  # the calling service's outbound fault rules (`harness.faults.outbound`)
        # simulated: where a host no service is registered for goes; None (the default) keeps a simulated run off
        # the network. The in-process mocks set it when a test lets its calls through (`reach_network`).
        self.fallback: BaseAdapter | None = None
        self._apps: dict[str, WSGIApp] = {}
        self._public: set[str] = set()  # hosts that are a real product's own names (`register(public=True)`)
        self._lock = threading.Lock()

    def with_outbound(self, policy: OutboundPolicy) -> Transport:
        """This transport under another policy, sharing its registered apps: in one simulated process each
        service keeps the policy it was given while all of them reach each other."""
        view = Transport(self.simulated, self.timeout, self.pool_size, policy, self.faults)
        view._apps, view._public, view._lock, view.fallback = self._apps, self._public, self._lock, self.fallback
        return view

    def with_faults(self, faults: FaultRules) -> Transport:
        """This transport with a service's outbound fault rules, sharing its registered apps."""
        view = Transport(self.simulated, self.timeout, self.pool_size, self.outbound, faults)
        view._apps, view._public, view._lock, view.fallback = self._apps, self._public, self._lock, self.fallback
        return view

    def reach_network(self) -> None:
        """Simulated: send what no registered service answers over real HTTP, under this transport's outbound
        policy (loopback only unless it was made with another). Views made after this call share it."""
        self.fallback = CheckedHTTPAdapter(self.outbound, pool_connections=self.pool_size,
                                           pool_maxsize=self.pool_size, max_retries=0)

    def check_url(self, url: object) -> str:
        """A URL being configured, normalised, or ValueError: its syntax (`harness.urls`), then, live, the
        outbound policy (`RefusedURL`). Simulated, every host is in-process and no socket ever opens."""
        checked = check_url(url)
        return checked if self.simulated else self.outbound.check_url(checked)

    def register(self, host: str, app: WSGIApp, public: bool = False) -> None:
        """Route `http://host[:port]` to `app` (simulated mode); `host` may include a port. `public`: the host is a
        real product's own name (`rest.iad-01.braze.com`), where the product answers and the harness's `/_admin`
        does not, so `names_for` leaves it out."""
        with self._lock:
            self._apps[host.lower()] = app
            (self._public.add if public else self._public.discard)(host.lower())

    def unregister(self, host: str) -> None:
        with self._lock:
            self._apps.pop(host.lower(), None)
            self._public.discard(host.lower())

    def app_for(self, host: str, port: int | None = None) -> WSGIApp | None:
        host = host.lower()
        if port is not None:
            app = self._apps.get(f"{host}:{port}")
            if app is not None:
                return app
        return self._apps.get(host)

    def names_for(self, app: WSGIApp) -> list[str]:
        """The hosts (`host[:port]`) `app` is registered under, but for public ones: the names it answers to
        in-process as the harness's service, `/_admin` included."""
        with self._lock:
            return [host for host, registered in self._apps.items() if registered is app and host not in self._public]

    @property
    def hosts(self) -> list[str]:
        return sorted(self._apps)

    def _adapter(self) -> BaseAdapter:
        if self.simulated:
            adapter: BaseAdapter = WSGIAdapter(self)
        else:
            adapter = CheckedHTTPAdapter(self.outbound, pool_connections=self.pool_size,
                                         pool_maxsize=self.pool_size, max_retries=0)
        return adapter if self.faults is None else FaultingAdapter(adapter, self.faults)

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
