"""The third door of `mocks.inprocess.routing`: `httpx`, sync and async, through `respx`.

`respx` is to `httpx` what `responses` is to `requests`, the package `httpx` users already mock with. Its default
mocker patches httpcore's connection pools, under every `httpx.Client` and `httpx.AsyncClient` whatever their
settings (a transport of the client's own, such as `httpx.MockTransport`, is not httpcore's and is left alone),
and it has read the request's body, sync or async, before it asks a route. One catch-all route decides per
request, as the urllib3 door does: a fake's host is answered by the mock serving it (the request converted to the
`requests.PreparedRequest` the other doors hand over, the answer back to an `httpx.Response`, so `calls` shows
it like any other); any other host is left to the team's own respx routers when it has some, else let through
when the mock was made with `passthrough=True`, else refused with an `httpx.ConnectError` that says why.
An `AsyncClient`'s call is answered synchronously on its event loop, as every in-process call runs alone.

Optional: this module is imported only when `httpx` and `respx` are installed (`routing` checks), so the mocks
need neither.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import requests
import respx

# the transport's exceptions, as the socket's would reach an httpx caller (a fault rule's `drop`, `hang`, `malformed`)
ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (requests.ReadTimeout, httpx.ReadTimeout),
    (requests.ConnectionError, httpx.ConnectError),
    (requests.exceptions.ChunkedEncodingError, httpx.RemoteProtocolError),
)
Send = Callable[[requests.PreparedRequest], requests.Response]


class HTTPXDoor:
    """A respx router started while any mock is: `sender_for(host)` is the mock's `send` for a fake's host (None
    for others), `passthrough()` whether other hosts go to the network, `served()` the fakes' hosts, for errors."""

    def __init__(self, sender_for: Callable[[str], Send | None], passthrough: Callable[[], bool],
                 served: Callable[[], str]) -> None:
        self._sender_for = sender_for
        self._passthrough = passthrough
        self._served = served
        # assert_all_mocked: a request this router leaves (None) goes on to the team's own respx routers
        self._router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
        self._router.route().mock(side_effect=self._answer)

    def start(self) -> None:
        self._router.start()

    def stop(self) -> None:
        self._router.stop()

    def _answer(self, request: httpx.Request) -> httpx.Response | httpx.Request | None:
        send = self._sender_for(request.url.host)
        if send is None:
            return self._elsewhere(request)
        prepared = requests.PreparedRequest()
        prepared.prepare(method=request.method, url=str(request.url), headers=dict(request.headers),
                         data=request.content or None)
        try:
            answer = send(prepared)
        except requests.RequestException as error:
            raise _as_httpx(error, request) from error
        return httpx.Response(answer.status_code, headers=list(answer.headers.items()), content=answer.content,
                              request=request)

    def _elsewhere(self, request: httpx.Request) -> httpx.Request | None:
        mocker = self._router.Mocker
        if mocker is not None and any(router is not self._router for router in mocker.routers):
            return None  # the team's own respx routes answer it, or respx says it is not mocked
        if self._passthrough():
            return request  # respx's way of saying: to the network
        raise httpx.ConnectError(f"{request.method} {request.url}: no fake serves this host, and the mock refuses "
                                 "other hosts (make it with passthrough=True to let them through); fakes: "
                                 f"{self._served()}", request=request)


def _as_httpx(error: requests.RequestException, request: httpx.Request) -> Exception:
    kind = next((theirs for ours, theirs in ERRORS if isinstance(error, ours)), None)
    return kind(str(error), request=request) if kind is not None else error
