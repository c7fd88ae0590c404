"""The live transport's HTTP adapter: requests and urllib3 as usual, except that every new connection asks
the outbound policy (`harness.outbound`) before it opens a socket.

urllib3 resolves a host and connects in one step (`create_connection`), so a check before the request
would be asked about one resolution and connect after another: a name whose DNS answer changes in
between (DNS rebinding) would slip through. Here the connection resolves once, through the policy, and
connects to exactly the addresses the policy allowed. A redirect is a new request, hence a new connection,
so it is asked too.
"""

from __future__ import annotations

import email.parser
import http.client
import re
import socket
import sys
import types
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    InvalidHeader,
    LocationValueError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)
from urllib3.util.connection import allowed_gai_family

from harness.outbound import LOOPBACK_ONLY, OutboundPolicy, OutboundRefused


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


# A header line the email package reads as `name: value` and nothing else: printable ASCII, a name of the
# characters its header pattern allows, no folding. Anything else goes to the email package itself.
_PLAIN_HEADER = re.compile(rb"([\x21-\x39\x3b-\x7e]+):[ \t]*([\x20-\x7e\t]*)\r?\n")


def plain_headers(fp: Any, _class: type = http.client.HTTPMessage) -> http.client.HTTPMessage:
    """`http.client.parse_headers` without the email package for answers whose every header line is plain.

    On the bridge's Sendbird send, parsing a four-header answer through `email.parser` was 36 % of the bridge's
    Python time in a realtime drain (py-spy, docs/performance.md). The lines are read as http.client reads them
    (`_read_headers`, with its limits); when each is a plain `name: value` line, the message is built as the
    email package builds it from them (the same names, values and order); otherwise the email package parses
    the same lines, so folding, defects and odd names behave exactly as before."""
    lines = http.client._read_headers(fp)
    header_lines = lines[:-1] if lines and lines[-1] in (b"\r\n", b"\n") else lines
    matches = [_PLAIN_HEADER.fullmatch(line) for line in header_lines]
    if not all(matches):
        return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))
    message = _class()
    for match in matches:
        message[match.group(1).decode("ascii")] = match.group(2).decode("ascii")
    return message


class _PlainHeadersResponse(http.client.HTTPResponse):
    """http.client's response whose `begin` (the running Python's own code) parses headers with
    `plain_headers`: the same function, given a namespace where `parse_headers` is that one, so nothing of
    http.client is copied or patched for anyone else."""

    begin = types.FunctionType(http.client.HTTPResponse.begin.__code__,
                               {**vars(http.client), "parse_headers": plain_headers}, "begin")


class _CheckedHTTPConnection(_CheckedConnecting, HTTPConnection):
    response_class = _PlainHeadersResponse


class _CheckedHTTPSConnection(_CheckedConnecting, HTTPSConnection):
    response_class = _PlainHeadersResponse


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


_REQUESTS_SEND = HTTPAdapter.send  # requests' own; `responses` (or a test's own mock) patches it while active


class DirectLane:
    """A live call through the adapter's checked pools without requests' per-call work around urllib3.

    On the bridge's send, requests' adapter (connection lookup through URL parsing, cert checks, header
    merging, a `Response` with a cookie jar and the cookies extracted) cost more CPU than the work it wraps:
    328 us a call through `Client` against 203 us through the same urllib3 pool (`benchmarks/realtime_leg.py`
    measures what it bought end to end). This is what `HTTPAdapter.send` and `Response.content` do for a
    call with no proxy, no redirects and no streaming, with the same exceptions mapped the same way, and a
    `requests.Response` as they build it (no cookies: service calls keep none). Only used while requests' own
    `send` is in place: when `responses` or a test's mock patches it, every call goes through the adapter, so
    they see every call as before."""

    def __init__(self, adapter: CheckedHTTPAdapter) -> None:
        self.adapter = adapter

    @staticmethod
    def takes(request: requests.PreparedRequest) -> bool:
        """Plain HTTP while requests' `send` is its own. HTTPS goes through the adapter, whose certificate
        settings (requests' CA bundle) the lane would otherwise have to repeat."""
        return HTTPAdapter.send is _REQUESTS_SEND and (request.url or "").startswith("http://")

    def send(self, request: requests.PreparedRequest, timeout: Any) -> requests.Response:
        try:
            pool = self.adapter.poolmanager.connection_from_url(request.url)
        except LocationValueError as exc:
            raise requests.exceptions.InvalidURL(exc, request=request) from None
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        try:
            answer = pool.urlopen(method=request.method, url=request.path_url, body=request.body,
                                  headers=request.headers, redirect=False, assert_same_host=False,
                                  preload_content=False, decode_content=False, retries=self.adapter.max_retries,
                                  timeout=Timeout(connect=connect, read=read),
                                  chunked=not (request.body is None or "Content-Length" in request.headers))
        except _Refusal as refusal:
            raise OutboundRefused(*refusal.refused.args, request=request) from None
        except (ProtocolError, OSError) as exc:
            raise requests.ConnectionError(exc, request=request) from None
        except MaxRetryError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
                raise requests.ConnectTimeout(exc, request=request) from None
            if isinstance(reason, ResponseError):
                raise requests.exceptions.RetryError(exc, request=request) from None
            if isinstance(reason, SSLError):
                raise requests.exceptions.SSLError(exc, request=request) from None
            raise requests.ConnectionError(exc, request=request) from None
        except ClosedPoolError as exc:
            raise requests.ConnectionError(exc, request=request) from None
        except SSLError as exc:
            raise requests.exceptions.SSLError(exc, request=request) from None
        except ReadTimeoutError as exc:
            raise requests.ReadTimeout(exc, request=request) from None
        except InvalidHeader as exc:
            raise requests.exceptions.InvalidHeader(exc, request=request) from None
        return self._response(request, answer)

    def _response(self, request: requests.PreparedRequest, answer: Any) -> requests.Response:
        try:
            content = answer.read(decode_content=True)
        except ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from None
        except DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from None
        except ReadTimeoutError as exc:
            raise requests.ConnectionError(exc) from None
        except SSLError as exc:
            raise requests.exceptions.SSLError(exc) from None
        finally:
            answer.release_conn()
        response = requests.Response()
        response.status_code = answer.status
        response.headers = CaseInsensitiveDict(answer.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = answer
        response.reason = answer.reason
        response.url = request.url
        response.request = request
        response.connection = self.adapter
        response._content = content
        response._content_consumed = True
        return response
