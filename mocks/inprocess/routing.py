"""The team's HTTP calls to the products' hosts, answered in-process by the fakes, with no socket opened.

Three doors, because the clients teams use go through three libraries:
- `requests` (a team's own code, `braze-client`): intercepted by `responses`, the package `requests` users
  already mock with; a request for a fake's host is handed to its Flask app through the harness's
  in-process transport (`harness.transport.WSGIAdapter`), the same one the simulator runs on;
- `urllib3` directly (`sendbird-platform-sdk` and other OpenAPI-generated clients): `HTTPConnectionPool.urlopen`
  is patched for the mock's lifetime, and hands the same hosts to the same adapter. It sits below `requests`'
  adapter too, so a team's own `responses` mock that passes the fakes' hosts through still reaches them;
- `httpx`, sync and async, when `httpx` and `respx` are installed (they are optional): a `respx` router does the
  same (`mocks.inprocess.httpx_door`).
Any other host is refused, as `responses` refuses it (a `requests.ConnectionError`; for urllib3 an
`UnmockedHost`, for httpx an `httpx.ConnectError`), or let through to the network when the mock was made with
`passthrough=True`.
The fakes' calls to each other (Braze's webhooks, the bridge's sends and callbacks) stay on the harness's
transport, which no door touches.
"""

from __future__ import annotations

import importlib.util
import io
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import responses
import urllib3
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import HTTPError

from harness.transport import WSGIAdapter, WSGIApp
from mocks.inprocess.world import World

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
PASS_EVERYTHING = re.compile(r".*")


class UnmockedHost(HTTPError):
    """A urllib3 request, inside a mock, for a host no fake serves (and the mock does not pass through)."""


@dataclass(frozen=True)
class Call:
    """One request the team's code made to a fake, and the fake's answer (as `responses.calls` holds them)."""

    request: requests.PreparedRequest
    response: requests.Response


class Router:
    """One mock's hosts, world and calls. While it is started, the doors send its hosts' requests to it."""

    def __init__(self, world: World, passthrough: bool = False) -> None:
        self.world = world
        self.passthrough = passthrough
        self.calls: list[Call] = []
        self._hosts: set[str] = set()
        self._adapter = WSGIAdapter(world.runtime.transport)
        self.started = False

    def intercept(self, *hosts: str) -> None:
        """Answer the team's calls to `hosts` (names registered on the world's transport) in-process."""
        self._hosts.update(host.lower() for host in hosts)
        if self.started:
            DOORS.changed()

    @property
    def hosts(self) -> list[str]:
        return sorted(self._hosts)

    @property
    def responses(self) -> responses.RequestsMock:
        return DOORS.responses

    def serve(self, host: str, app: WSGIApp) -> None:
        """Put the team's own WSGI app (a Flask or Django app) at `host`, for the fakes and for the team's code: the
        fake Braze's webhooks and the fake Sendbird's webhooks reach it in-process, as the team's calls do."""
        self.world.runtime.transport.register(host, app)
        self.intercept(host)

    def serves(self, host: str) -> bool:
        return host in self._hosts

    def start(self) -> None:
        if not self.started:
            self.started = True
            DOORS.open(self)

    def stop(self) -> None:
        if self.started:
            self.started = False
            DOORS.close(self)

    def send(self, request: requests.PreparedRequest) -> requests.Response:
        with self.world.serving():
            response = self._adapter.send(request)
        self.calls.append(Call(request, response))
        return response


class _Doors:
    """The patches, shared by every started mock: `responses` for `requests`, `HTTPConnectionPool.urlopen` for
    urllib3, respx for httpx.
    Mocks may be nested (`mock_braze()` inside `mock_sendbird()`): each host goes to the newest mock serving it,
    and a host no mock serves passes through when any started mock allows it."""

    def __init__(self) -> None:
        self._routers: list[Router] = []
        self._lock = threading.Lock()
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self._ours: list[responses.BaseResponse] = []
        self._original_urlopen: Any = None
        self._httpx: Any = None  # the httpx door, made at the first start when httpx and respx are installed

    def open(self, router: Router) -> None:
        with self._lock:
            self._routers.append(router)
            if len(self._routers) == 1:
                self._patch()
            self._install()

    def close(self, router: Router) -> None:
        with self._lock:
            self._routers.remove(router)
            if self._routers:
                self._install()
            else:
                self._unpatch()

    def changed(self) -> None:
        with self._lock:
            self._install()

    def _router_for(self, host: str) -> Router | None:
        host = host.lower()
        return next((router for router in reversed(self._routers) if router.serves(host)), None)

    def _hosts(self) -> list[str]:
        return sorted({host for router in self._routers for host in router.hosts}, key=len, reverse=True)

    def _passthrough(self) -> bool:
        return any(router.passthrough for router in self._routers)

    def _sender_for(self, host: str) -> Any:
        router = self._router_for(host)
        return router.send if router is not None else None

    def _install(self) -> None:
        """(Re)register the fakes' callbacks and the pass-through, leaving the team's own stubs in place."""
        for registered in self._ours:
            self._mock.remove(registered)
        self._ours = []
        hosts = self._hosts()
        if hosts:
            names = "|".join(re.escape(host) for host in hosts)
            pattern = re.compile(rf"^https?://(?:{names})(?::\d+)?(?:[/?#].*)?$", re.IGNORECASE)
            self._ours = [self._mock.add(responses.CallbackResponse(method, pattern, self._answer, content_type=None))
                          for method in METHODS]
        others = tuple(p for p in self._mock.passthru_prefixes if p is not PASS_EVERYTHING)
        self._mock.passthru_prefixes = (*others, PASS_EVERYTHING) if self._passthrough() else others

    @property
    def responses(self) -> responses.RequestsMock:
        """The `responses` mock the fakes are answered through: add the team's own stubs for other hosts to it
        (a team's own `responses` mock works too, when it passes the fakes' hosts through)."""
        return self._mock

    def _patch(self) -> None:
        self._mock.start()
        self._original_urlopen = original = HTTPConnectionPool.urlopen
        doors = self

        def urlopen(pool: HTTPConnectionPool, method: str, url: str, *args: Any, **kw: Any):
            """Below `requests`' adapter and `PoolManager`: a team's own `responses` mock that passes a fake's
            host through (`add_passthru`) reaches the fake here, as a bare urllib3 client does."""
            router = doors._router_for(pool.host)
            if router is not None:
                return _answer_urllib3(router, method, _full_url(pool, url), *args, **kw)
            if doors._passthrough():
                return original(pool, method, url, *args, **kw)
            served = ", ".join(doors._hosts())
            raise UnmockedHost(f"{method} {_full_url(pool, url)}: no fake serves this host, and the mock refuses "
                               f"other hosts (make it with passthrough=True to let them through); fakes: {served}")

        HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign]
        if self._httpx is None and all(importlib.util.find_spec(name) for name in ("httpx", "respx")):
            from mocks.inprocess.httpx_door import HTTPXDoor  # imports httpx and respx: only when installed

            self._httpx = HTTPXDoor(self._sender_for, self._passthrough, lambda: ", ".join(self._hosts()))
        if self._httpx is not None:
            self._httpx.start()

    def _unpatch(self) -> None:
        if self._httpx is not None:
            self._httpx.stop()
        HTTPConnectionPool.urlopen = self._original_urlopen  # type: ignore[method-assign]
        self._original_urlopen = None
        self._mock.stop()
        self._mock.reset()  # the team's own stubs end with the last mock
        self._ours = []

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        router = self._router_for(urlsplit(request.url or "").hostname or "")
        if router is None:  # the mock serving it stopped between the match and the call
            return requests.ConnectionError(f"{request.method} {request.url}: no fake serves this host any more")
        response = router.send(request)
        return response.status_code, list(response.headers.items()), response.content


def _full_url(pool: HTTPConnectionPool, url: str) -> str:
    """A pool is asked for a path (or, through a proxy, a whole URL): the URL it names."""
    if not url.startswith("/"):
        return url
    default = 443 if pool.scheme == "https" else 80
    port = "" if pool.port in (None, default) else f":{pool.port}"
    return f"{pool.scheme}://{pool.host}{port}{url}"


def _answer_urllib3(router: Router, method: str, url: str, body: Any = None, headers: Any = None,
                    *_: Any, preload_content: bool = True, **__: Any) -> urllib3.HTTPResponse:
    request = requests.PreparedRequest()
    request.prepare(method=method, url=url, headers=dict(headers or {}), data=body or None)
    response = router.send(request)
    return urllib3.HTTPResponse(body=io.BytesIO(response.content), headers=list(response.headers.items()),
                                status=response.status_code, reason=response.reason,
                                preload_content=preload_content, request_method=method, request_url=url)


DOORS = _Doors()
