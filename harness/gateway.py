"""The live front of a service: an RSGI application (served by granian) around its WSGI app.

Under WSGI every request held one of a few blocking threads, so a handful of open event streams
froze a service, and there was no way to speak WebSocket. The gateway answers on one event loop:
- a fast route (the `harness.fast_routes` table the service already built) is answered inline on
  the loop, or on the pool for the routes named in `pooled_routes` (a handler that may wait on a
  lock another thread holds for long, where inline it would stall the whole loop);
- an event stream is served natively: the request goes to the WSGI app like any other (so auth,
  rate limits and error answers stay the view's), and when the view answers with a
  `harness.sse.SubscriptionStream` the gateway serves that stream on the loop (`harness.live_streams`),
  holding no thread;
- a WebSocket upgrade on the HTTP port is refused: granian's RSGI websocket cannot name the subprotocol
  in its 101 answer. A service's own socket protocol, `ws_handler(scope, proto)`, is served on `ws_port`
  of the same process, on this loop, by `harness.ws_listener`;
- a request on an admin path (the app's `harness.admin_guard.AdminGuard`) is never answered on a fast
  route: it goes to the WSGI app, whose outermost layer is the guard;
- everything else goes to the WSGI app on a bounded pool of `threads` threads (`harness.pool`), its
  answer sent whole, or chunk by chunk when it has no length.
Before any of that, a request body over the service's limit (the app's `harness.limits.BodyLimit`) is
refused with the service's own 413: unread when its Content-Length says so, and a body without a length is
read only up to the limit.
Fault rules (the app's `harness.faults.inbound.FaultLayer`) are applied here, ahead of every other route but
`/_admin`, because only here can a delay or a hang hold no thread (a timer on the loop): latency waits on a timer
then serves the request; a hang waits until the client gives up; a status is the service's own error answer;
malformed sends the answer's status and headers and half its body, then closes the connection; drop, which RSGI
cannot do exactly (granian has no way to close a connection without an answer), sends the status line and one
byte of the two it declares, then closes: the client's connection breaks with nothing it can use.
On shutdown (`shutdown()`, from the server's signal handler) open streams end and websockets close going
away (1001), so the server stops within its grace period instead of waiting for clients that never leave.
Requests in progress finish first, and `first()` (a persisting fake's clean save) runs only once they have:
a save taken while a send was still being answered lost that send's notification after the restart, though
its caller held a 200 for it. A request arriving meanwhile is cut, as a stopping server's socket cuts it,
and never takes effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from harness.admin_guard import AdminGuard
from harness.fast_routes import FastRoutes
from harness.faults.inbound import ADMIN_PREFIX, APPLIED, FaultLayer, fault_answer, truncated
from harness.faults.rules import FaultRules, Firing, Subject
from harness.journal import Journal
from harness.limits import BodyLimit, wsgi_layer
from harness.live_streams import STREAM_LIMIT, LiveStream
from harness.pool import BlockingPool
from harness.ws_listener import WebSocketListener
from harness.wsgi_call import WSGIAnswer, WSGIApp, call, wsgi_environ

log = logging.getLogger(__name__)

WebSocketHandler = Callable[[Any, Any], Awaitable[None]]
REFUSED = 404  # the HTTP answer to a websocket upgrade on the HTTP port
DRAIN_TIMEOUT = 30.0  # seconds a shutdown waits for requests in progress before it goes on without them


def fast_routes_of(app: Any) -> FastRoutes | None:
    """The `FastRoutes` a service put in front of its app (`app.wsgi_app = FastRoutes(...)`, perhaps under
    other middleware), if any."""
    return wsgi_layer(app, FastRoutes)


class HeaderEnviron(Mapping[str, str]):
    """What a fast handler reads of its environ (`HTTP_*`, `CONTENT_TYPE`, `CONTENT_LENGTH`), looked up
    in the RSGI headers when asked instead of built for every request."""

    __slots__ = ("_headers",)

    def __init__(self, headers: Any) -> None:
        self._headers = headers

    @staticmethod
    def _name(key: str) -> str | None:
        if key.startswith("HTTP_"):
            key = key[5:]
        elif key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return None
        return key.replace("_", "-").lower()

    def get(self, key: str, default: Any = None) -> Any:
        name = self._name(key)
        return self._headers.get(name, default) if name else default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        for name in self._headers.keys():  # noqa: SIM118 (RSGI headers are not iterable)
            key = name.upper().replace("-", "_")
            yield key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key

    def __len__(self) -> int:
        return len(self._headers.keys())


def _close_quietly(answer: WSGIAnswer) -> None:
    try:
        answer.close()
    except Exception:
        log.exception("closing a streamed response failed")


class Gateway:
    def __init__(self, app: WSGIApp, *, threads: int = 8, pooled_routes: Iterable[str] = (),
                 ws_handler: WebSocketHandler | None = None, journal: Journal | None = None,
                 service: str = "harness", stream_limit: int = STREAM_LIMIT, ws_port: int | None = None,
                 ws_host: str = "127.0.0.1") -> None:
        if (ws_handler is None) != (ws_port is None):
            raise ValueError("a websocket handler needs its port (ws_port), and a port its handler")
        self.app = app
        self.threads = threads
        self.fast = fast_routes_of(app)
        self.body_limit: BodyLimit | None = wsgi_layer(app, BodyLimit)
        fault_layer: FaultLayer | None = wsgi_layer(app, FaultLayer)
        self.faults: FaultRules | None = fault_layer.rules if fault_layer is not None else None
        self.fault_errors = fault_layer.on_error if fault_layer is not None else None
        guard: AdminGuard | None = wsgi_layer(app, AdminGuard)
        self.routes = {path: handler for path, handler in (self.fast.routes if self.fast is not None else {}).items()
                       if guard is None or not guard.covers(path)}
        self.pooled = frozenset(pooled_routes)
        if unknown := self.pooled - self.routes.keys():
            raise ValueError(f"pooled routes that are not fast routes: {sorted(unknown)}")
        self.ws_listener = WebSocketListener(ws_host, ws_port, ws_handler) if ws_handler is not None else None
        self.journal = journal
        self.service = service
        self.stream_limit = stream_limit
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pool: BlockingPool | None = None
        self.closing = False
        self._closed: asyncio.Event | None = None
        self._streams: set[LiveStream] = set()
        self._in_progress = 0  # HTTP requests being answered (event streams included)
        self._idle: asyncio.Event | None = None  # set once a stop began and none is

    # -- lifecycle (granian calls __rsgi_init__ and __rsgi_del__ in its worker) ---------------------
    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.start(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stop()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pool = BlockingPool(self.threads, name=f"{self.service}-request")
        self._closed = asyncio.Event()
        self._idle = asyncio.Event()
        if self.ws_listener is not None:
            self.ws_listener.start(loop)

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def shutdown(self, then: Callable[[], None] | None = None, first: Callable[[], Any] | None = None) -> None:
        """Stop (from any thread, e.g. a signal handler): end open streams, hung requests and websockets, let
        the requests in progress finish, run `first()` on the pool, then call `then` on the loop."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._stop(first, then)))
        else:
            if first is not None:
                first()
            if then is not None:
                then()

    async def _stop(self, first: Callable[[], Any] | None, then: Callable[[], None] | None) -> None:
        self.closing = True
        self._closed.set()
        for stream in list(self._streams):
            stream.close()
        try:
            # the close frames are sends still to make on this loop, which a worker stopped at once would never make
            if self.ws_listener is not None:
                await self.ws_listener.close()
            try:
                if self._in_progress:
                    await asyncio.wait_for(self._idle.wait(), DRAIN_TIMEOUT)
            except TimeoutError:
                log.warning("%s: %d requests still in progress after %g s; stopping without them", self.service,
                            self._in_progress, DRAIN_TIMEOUT)
            if first is not None:
                await self.pool.run(self.loop, first)
        except Exception:  # the service must still stop
            log.exception("%s: stopping failed", self.service)
        finally:
            if then is not None:
                then()

    # -- requests ---------------------------------------------------------------------------------
    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto == "ws":
            proto.close(REFUSED)
            return
        if self.closing:
            await self._cut(proto)
            return
        self._in_progress += 1
        try:
            headers = scope.headers
            raw = await self._body(headers, proto)
            if raw is None:
                return
            path = scope.path
            faults = self.faults
            if faults is not None and faults.has_inbound and not path.startswith(ADMIN_PREFIX):
                firing = faults.decide("inbound", Subject(scope.method, path, body=raw, query=scope.query_string),
                                       headers.get("x-trace-id"))
                if firing is not None:
                    await self._faulted(firing, scope, proto, raw)
                    return
            await self._dispatch(scope, proto, raw)
        finally:
            self._in_progress -= 1
            if self.closing and not self._in_progress:  # the last one a stop waits for
                self._idle.set()

    async def _dispatch(self, scope: Any, proto: Any, raw: bytes, faults_applied: bool = False) -> None:
        path = scope.path
        headers = scope.headers
        handler = self.routes.get(path)
        if handler is not None and scope.method == "POST" and headers.get("content-length", "").isdigit():
            environ = HeaderEnviron(headers)
            if path in self.pooled:
                answer = await self.pool.run(self.loop, self.fast.answer, handler, environ, raw)
            else:
                answer = self.fast.answer(handler, environ, raw)
            proto.response_bytes(*answer)
            return
        await self._wsgi(scope, proto, raw, faults_applied)

    # -- faults -----------------------------------------------------------------------------------
    async def _faulted(self, firing: Firing, scope: Any, proto: Any, raw: bytes) -> None:
        if firing.latency_s > 0:
            ended = await self._wait(firing.latency_s, proto)
            if ended != "elapsed":
                await self._end_held(ended, proto)
                return
        if firing.kind == "hang":
            await self._end_held(await self._wait(None, proto), proto)
        elif firing.kind == "drop":
            await self._cut(proto)
        elif firing.kind == "status":
            proto.response_bytes(*fault_answer(firing, self.fault_errors))
        elif firing.kind == "malformed":
            held = _HeldAnswer(proto)
            await self._dispatch(scope, held, raw, faults_applied=True)
            await held.send_cut(firing.status)
        else:  # latency alone: served as usual once the delay is over
            await self._dispatch(scope, proto, raw, faults_applied=True)

    async def _end_held(self, ended: str, proto: Any) -> None:
        """End a request a rule held, once its client left or the server is stopping. A stopping server cuts
        the connection, as a real one does when its process goes: an answer would be a status the product
        never sends, which the caller would take as final (a 4XX is not retried) for a request that never
        took effect. A client that left reads nothing, so the empty answer only ends the exchange."""
        if ended == "closing":
            await self._cut(proto)
        else:
            proto.response_empty(499, [])

    @staticmethod
    async def _cut(proto: Any) -> None:
        """One byte of two declared, then the connection closes: the caller sees a broken answer. With nothing
        sent, the server may end the answer as an empty body instead."""
        transport = proto.response_stream(200, [("Content-Length", "2"), ("Connection", "close")])
        await transport.send_bytes(b" ")

    async def _wait(self, seconds: float | None, proto: Any) -> str:
        """Wait `seconds` (None: until the client leaves) on a timer of the loop. Says how the wait ended:
        "elapsed", "left" (the client went first) or "closing" (the server is shutting down)."""
        left = asyncio.ensure_future(proto.client_disconnect())
        closing = asyncio.ensure_future(self._closed.wait())
        waiters = [left, closing]
        timer: asyncio.Future | None = None
        if seconds is not None:
            timer = self.loop.create_future()
            handle = self.loop.call_later(seconds, lambda: timer.done() or timer.set_result(None))
            waiters.append(timer)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            if timer is not None:
                handle.cancel()
        if timer is not None and timer.done() and not timer.cancelled():
            return "elapsed"
        return "closing" if closing.done() and not closing.cancelled() else "left"

    async def _body(self, headers: Any, proto: Any) -> bytes | None:
        """The whole request body, or None once it is refused as over the limit (the answer is sent)."""
        limit = self.body_limit
        if limit is None:
            return await proto()
        declared = headers.get("content-length")
        if declared is not None:  # granian reads no more than the declared length
            if limit.over(declared):
                proto.response_bytes(*limit.refusal(int(declared)))
                return None
            return await proto()
        chunks: list[bytes] = []
        size = 0
        async for chunk in proto:
            size += len(chunk)
            if size > limit.max_bytes:
                proto.response_bytes(*limit.refusal(size))
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _wsgi(self, scope: Any, proto: Any, body: bytes, faults_applied: bool = False) -> None:
        environ = wsgi_environ(scope, body)
        if faults_applied:
            environ[APPLIED] = True
        try:
            answer = await self.pool.run(self.loop, call, self.app, environ)
        except Exception:  # a WSGI app should answer its own errors; a server answers 500 when it does not
            log.exception("%s %s failed", scope.method, scope.path)
            proto.response_bytes(500, [("Content-Type", "text/plain")], b"Internal Server Error")
            return
        if answer.stream is not None:
            await self._serve_stream(scope.path, proto, answer)
        elif answer.rest is None:
            proto.response_bytes(answer.status, answer.headers, answer.body)
        else:
            await self._send_chunks(proto, answer)

    async def _serve_stream(self, path: str, proto: Any, answer: WSGIAnswer) -> None:
        live = LiveStream(answer.stream, path, self.stream_limit)
        self._streams.add(live)
        if self.closing:
            live.close()
        try:
            await live.serve(proto, answer.status, answer.headers, self.journal, self.service)
        finally:
            self._streams.discard(live)

    async def _send_chunks(self, proto: Any, answer: WSGIAnswer) -> None:
        """A body without a length, each chunk pulled on the pool (the app's iterator may block),
        until it ends, the client goes away or the server shuts down."""
        transport = proto.response_stream(answer.status, answer.headers)
        ended = [asyncio.ensure_future(self._closed.wait()), asyncio.ensure_future(proto.client_disconnect())]
        chunk: asyncio.Future | None = None
        try:
            if answer.body:
                await transport.send_bytes(answer.body)
            while True:
                chunk = self.pool.run(self.loop, next, answer.rest, None)
                await asyncio.wait((chunk, *ended), return_when=asyncio.FIRST_COMPLETED)
                if not chunk.done() or chunk.result() is None:
                    break
                await transport.send_bytes(chunk.result())
        except Exception as exc:  # the client went away mid-write, or the app's iterator failed
            log.info("streamed response ended: %r", exc)
        finally:
            for waiter in ended:
                waiter.cancel()
            if chunk is not None and not chunk.done():  # close the iterator once it stops executing
                chunk.add_done_callback(lambda _: self.pool.run(self.loop, _close_quietly, answer))
            else:
                self.pool.run(self.loop, _close_quietly, answer)


class _HeldAnswer:
    """A proto that keeps a whole answer instead of sending it, so a malformed fault can send it cut; a streamed
    answer is passed through whole (a stream has no end to cut before)."""

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.answer: tuple[int, list[tuple[str, str]], bytes] | None = None

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, headers, body)

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> Any:
        return self.proto.response_stream(status, headers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.proto, name)

    async def send_cut(self, status: int | None) -> None:
        if self.answer is None:
            return
        code, headers, body = self.answer
        kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
        transport = self.proto.response_stream(status or code, [*kept, ("Content-Length", str(len(body))),
                                                                 ("Connection", "close")])
        cut = truncated(body)
        if cut:
            await transport.send_bytes(cut)
