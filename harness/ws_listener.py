"""A service's WebSocket on a port of its own, served by `websockets` on the gateway's event loop.

granian's RSGI websocket `accept()` takes no arguments, so its 101 answer can never carry a
`Sec-WebSocket-Protocol`; a client that offers a subprotocol and gets none back aborts the handshake
(RFC 6455 4.1; Sendbird's SDK puts its credential there and does exactly that). Serving the whole service
on granian's ASGI interface instead cost every HTTP request ASGI's per-message dicts (docs/performance.md,
"The WebSocket"). So HTTP stays on RSGI and the socket gets a second port in the same worker process, on
the same loop (no thread), where `websockets` echoes the offered subprotocol verbatim.

The handler keeps the RSGI shape the gateway's hook always had, through thin adapters: `scope.headers.get`,
`scope.query_string`, `scope.path`; `await proto.accept(subprotocol=...)` (the handshake is already done:
it returns the transport), `transport.receive()` (a message whose `kind` is CLOSED, BYTES or TEXT),
`transport.send_str` / `send_bytes`, and `proto.close(code)`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

CLOSED, BYTES, TEXT = 0, 1, 2  # RSGI's websocket message kinds, which handlers already read
LISTEN_BACKLOG = 1024
CLOSE_TIMEOUT = 0.5  # seconds a close waits for the client's answering close frame (the worker is killed at 1 s)


class Scope:
    """What a handler reads of its request: the path, the query string and the headers (case-insensitive)."""

    __slots__ = ("headers", "path", "proto", "query_string")

    def __init__(self, connection: ServerConnection) -> None:
        self.proto = "ws"
        self.path, _, self.query_string = connection.request.path.partition("?")
        self.headers = connection.request.headers


class Message:
    __slots__ = ("data", "kind")

    def __init__(self, kind: int, data: Any) -> None:
        self.kind = kind
        self.data = data


class Transport:
    """The accepted socket: `receive()` ends with a CLOSED message when either side closes."""

    __slots__ = ("_connection",)

    def __init__(self, connection: ServerConnection) -> None:
        self._connection = connection

    async def receive(self) -> Message:
        try:
            data = await self._connection.recv()
        except ConnectionClosed:
            return Message(CLOSED, None)
        return Message(TEXT, data) if isinstance(data, str) else Message(BYTES, data)

    async def send_str(self, data: str) -> None:
        await self._connection.send(data)

    async def send_bytes(self, data: bytes) -> None:
        await self._connection.send(data)


class Proto:
    """The socket before and after its handshake, as the handler holds it."""

    __slots__ = ("_closing", "_connection")

    def __init__(self, connection: ServerConnection) -> None:
        self._connection = connection
        self._closing: asyncio.Task | None = None

    async def accept(self, subprotocol: str | None = None) -> Transport:
        """The handshake is `websockets`' (the subprotocol already echoed): the transport."""
        return Transport(self._connection)

    async def closed(self) -> None:
        if self._closing is not None:
            await self._closing

    def close(self, code: int = 1000) -> asyncio.Task:
        """Close with `code`, from the loop; the task that does it (the same one when asked twice)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._connection.close(code))
        return self._closing


def echo_offered(connection: ServerConnection, offered: Sequence[str]) -> str | None:
    """The client's first offered subprotocol, verbatim: the server's own reading of it is the handler's."""
    return offered[0] if offered else None


Handler = Callable[[Any, Any], Awaitable[None]]


class WebSocketListener:
    """`handler(scope, proto)` for each socket on host:port. `start()` binds and listens on the spot (a taken
    port fails there, not later in a task; a client that comes before the task waits in the backlog).
    `close()` closes every socket going away (1001) and returns once their handlers have returned."""

    def __init__(self, host: str, port: int, handler: Handler) -> None:
        self.host = host
        self.port = port
        self.handler = handler
        self._sock: socket.socket | None = None
        self._server: asyncio.Future[Server] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(LISTEN_BACKLOG)  # a client early for the server's task waits in the backlog
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._server = asyncio.ensure_future(self._serve(sock), loop=loop)

    async def _serve(self, sock: socket.socket) -> Server:
        return await serve(self._connection, sock=sock, select_subprotocol=echo_offered, compression=None,
                           ping_interval=None, close_timeout=CLOSE_TIMEOUT, max_size=2**20)

    async def _connection(self, connection: ServerConnection) -> None:
        proto = Proto(connection)
        try:
            await self.handler(Scope(connection), proto)
        finally:
            # a close the handler asked for goes out with its code, before `websockets` closes with 1000
            await proto.closed()

    async def close(self) -> None:
        if self._server is None:
            return
        server = await self._server
        server.close()
        await server.wait_closed()
