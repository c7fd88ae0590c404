"""The gateway on granian's ASGI interface, for a service whose WebSocket must name its subprotocol.

granian's RSGI websocket `accept()` takes no arguments, so its 101 answer can never carry a
`Sec-WebSocket-Protocol`; its ASGI `websocket.accept` can. A client that offers a subprotocol and gets
none back aborts the handshake (RFC 6455 4.1; Sendbird's SDK puts its session key there and does
exactly that). `AsgiGateway` serves an unchanged `harness.gateway.Gateway` on the ASGI interface by
handing it objects with the RSGI shape it already speaks (`scope.path`, `proto()`, `proto.response_bytes`,
`proto.response_stream`, `proto.accept`...), and lets a websocket handler `accept(subprotocol=...)`.
The price is ASGI's per-message dicts on every request (docs/performance.md, "The WebSocket").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from harness.gateway import Gateway

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
CLOSED, BYTES, TEXT = 0, 1, 2  # RSGI's websocket message kinds


class Headers:
    """RSGI's header lookups over ASGI's list of byte pairs (names arrive lower-cased), decoded only when
    asked: a fast route reads two or three of them."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def get(self, name: str, default: Any = None) -> Any:
        key = name.encode("latin-1")
        for raw_name, value in self._raw:
            if raw_name == key:
                return value.decode("latin-1")
        return default

    def items(self) -> list[tuple[str, str]]:
        return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in self._raw]

    def keys(self) -> list[str]:
        return [name.decode("latin-1") for name, _ in self._raw]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())


def _address(pair: Any) -> str:
    return f"{pair[0]}:{pair[1]}" if pair else ":"


class Scope:
    """RSGI's scope over an ASGI one; what only the WSGI path reads is built when it reads it."""

    __slots__ = ("_scope", "headers", "method", "path", "proto")

    def __init__(self, scope: dict[str, Any], proto: str) -> None:
        self._scope = scope
        self.proto = proto
        self.method = scope.get("method", "GET")
        self.path = scope["path"]
        self.headers = Headers(scope["headers"])

    @property
    def query_string(self) -> str:
        return self._scope.get("query_string", b"").decode("latin-1")

    @property
    def server(self) -> str:
        return _address(self._scope.get("server"))

    @property
    def client(self) -> str:
        return _address(self._scope.get("client"))

    @property
    def http_version(self) -> str:
        return self._scope.get("http_version", "1.1")

    @property
    def scheme(self) -> str:
        return self._scope.get("scheme", "http")


def _raw_headers(headers: Any) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


class StreamTransport:
    """`proto.response_stream()`'s transport: the answer's head goes out with its first chunk."""

    def __init__(self, send: Send, status: int, headers: Any) -> None:
        self._send = send
        self._head: dict[str, Any] | None = {"type": "http.response.start", "status": status,
                                              "headers": _raw_headers(headers)}

    async def send_bytes(self, data: bytes) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            await self._send(head)
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def send_str(self, data: str) -> None:
        await self.send_bytes(data.encode())

    async def end(self) -> None:
        if self._head is not None:
            await self._send(self._head)
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})


class HttpProto:
    """RSGI's HTTP protocol object: the body pulled from `receive`, the answer kept until `finish()`."""

    __slots__ = ("_answer", "_disconnected", "_receive", "_send", "_stream")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._answer: tuple[int, Any, bytes] | None = None
        self._stream: StreamTransport | None = None
        self._disconnected = False

    async def __call__(self) -> bytes:
        message = await self._receive()
        if not message.get("more_body", False):  # the whole body in one message: every fast route's case
            if message["type"] == "http.disconnect":
                self._disconnected = True
            return message.get("body", b"")
        chunks = [message.get("body", b"")]
        async for chunk in self:
            chunks.append(chunk)
        return b"".join(chunks)

    async def __aiter__(self):
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._disconnected = True
                return
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return

    def response_bytes(self, status: int, headers: Any, body: bytes) -> None:
        self._answer = (status, headers, body)

    def response_str(self, status: int, headers: Any, body: str) -> None:
        self._answer = (status, headers, body.encode())

    def response_stream(self, status: int, headers: Any) -> StreamTransport:
        self._stream = StreamTransport(self._send, status, headers)
        return self._stream

    async def client_disconnect(self) -> None:
        while not self._disconnected:
            self._disconnected = (await self._receive())["type"] == "http.disconnect"

    async def finish(self) -> None:
        try:
            if self._answer is not None:
                status, headers, body = self._answer
                await self._send({"type": "http.response.start", "status": status, "headers": _raw_headers(headers)})
                await self._send({"type": "http.response.body", "body": body})
            elif self._stream is not None:
                await self._stream.end()
        except Exception as exc:  # the client went away before the answer was written
            log.info("answer not sent: %r", exc)


class WebSocketClosed(RuntimeError):
    """Sent on a websocket that is closed (RSGI raises its own `RSGIProtocolClosed`)."""


class WsMessage:
    __slots__ = ("data", "kind")

    def __init__(self, kind: int, data: Any) -> None:
        self.kind = kind
        self.data = data


class WsTransport:
    """RSGI's websocket transport: `receive()` ends with a CLOSED message when either side closes."""

    def __init__(self, proto: WsProto) -> None:
        self._proto = proto

    async def receive(self) -> WsMessage:
        proto = self._proto
        if proto.closed.done():
            return WsMessage(CLOSED, None)
        incoming = asyncio.ensure_future(proto.receive())
        await asyncio.wait((incoming, proto.closed), return_when=asyncio.FIRST_COMPLETED)
        if not incoming.done():
            incoming.cancel()
            return WsMessage(CLOSED, None)
        message = incoming.result()
        if message["type"] != "websocket.receive":
            proto.mark_closed()
            return WsMessage(CLOSED, None)
        text = message.get("text")
        return WsMessage(TEXT, text) if text is not None else WsMessage(BYTES, message.get("bytes") or b"")

    async def send_str(self, data: str) -> None:
        await self._proto.send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self._proto.send({"type": "websocket.send", "bytes": data})


class WsProto:
    """RSGI's websocket protocol object, whose `accept` may name the subprotocol of the 101 answer."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive = receive
        self._send = send
        self.accepted = False
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self._closing: asyncio.Task | None = None

    async def accept(self, subprotocol: str | None = None) -> WsTransport:
        if self.closed.done() or (await self.receive())["type"] != "websocket.connect":
            raise WebSocketClosed("the websocket closed before it was accepted")
        message: dict[str, Any] = {"type": "websocket.accept"}
        if subprotocol is not None:
            message["subprotocol"] = subprotocol
        await self._send(message)
        self.accepted = True
        return WsTransport(self)

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed.done():
            raise WebSocketClosed("the websocket is closed")
        await self._send(message)

    def mark_closed(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self, status: int | None = None) -> asyncio.Task | None:
        """Close with `status` (a close code once accepted, an HTTP status before), from the loop; the
        task that sends it (None if already closed), for a server that must not stop before it is out."""
        if self.closed.done():
            return None
        self.mark_closed()
        self._closing = asyncio.ensure_future(self._close(status))
        return self._closing

    async def _close(self, status: int | None) -> None:
        try:
            if self.accepted:
                await self._send({"type": "websocket.close", "code": status or 1000})
            else:
                await self._send({"type": "websocket.http.response.start", "status": status or 403, "headers": []})
                await self._send({"type": "websocket.http.response.body", "body": b""})
        except Exception as exc:  # the client is already gone
            log.info("websocket close not sent: %r", exc)

    async def finish(self) -> None:
        if self._closing is None and self.accepted and not self.closed.done():
            self.close(1000)
        if self._closing is not None:
            await self._closing


class AsgiGateway:
    """An ASGI application (with lifespan) serving `gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            proto = HttpProto(receive, send)
            await self.gateway.__rsgi__(Scope(scope, "http"), proto)
            await proto.finish()
        elif kind == "websocket":
            ws = WsProto(receive, send)
            try:
                await self.gateway.__rsgi__(Scope(scope, "ws"), ws)
            finally:
                await ws.finish()
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.gateway.start(asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.gateway.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
