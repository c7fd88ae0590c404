"""Stand-ins for what granian hands an RSGI app (scope, headers, protocol, stream transport), so the
gateway can be driven in-process, and `run_gateway` to drive it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from harness.gateway import Gateway


class Headers:
    """granian's RSGIHeaders: lower-case names, repeats kept, `get` gives the first."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = [(name.lower(), value) for name, value in pairs]

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self._pairs if k == key.lower()), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def keys(self) -> list[str]:
        return list(dict.fromkeys(k for k, _ in self._pairs))

    def values(self) -> list[str]:
        return [v for _, v in self._pairs]

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None


class Scope:
    def __init__(self, method: str, path: str, query_string: str = "", headers: list[tuple[str, str]] = (),
                 proto: str = "http") -> None:
        self.proto = proto
        self.http_version = "1.1"
        self.rsgi_version = "1.5"
        self.server = "127.0.0.1:7200"
        self.client = "127.0.0.1:50123"
        self.scheme = "http"
        self.method = method
        self.path = path
        self.query_string = query_string
        self.authority = None
        self.headers = Headers(list(headers))


class Transport:
    """A stream transport; `gate`, when given, holds every send after the first until it is set."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.chunks: list[bytes] = []
        self.gate = gate
        self.arrived = asyncio.Event()

    async def send_bytes(self, data: bytes) -> None:
        if self.gate is not None and self.chunks:
            await self.gate.wait()
        self.chunks.append(bytes(data))
        self.arrived.set()

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()


class Proto:
    def __init__(self, body: bytes = b"", transport: Transport | None = None) -> None:
        self.body = body
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.payload: bytes | None = None
        self.transport = transport
        self.gone = asyncio.Event()
        self.closed_with: int | None = None
        self.chunk_size = 64 * 1024

    async def __call__(self) -> bytes:
        return self.body

    def __aiter__(self) -> Any:
        """The body as granian streams one without a length: in chunks (of `chunk_size`), then the end."""
        async def chunks() -> Any:
            for start in range(0, len(self.body), self.chunk_size):
                yield self.body[start:start + self.chunk_size]
        return chunks()

    async def client_disconnect(self) -> None:
        await self.gone.wait()

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.payload = status, list(headers), bytes(body)

    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status, self.headers, self.payload = status, list(headers), b""

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> Transport:
        self.status, self.headers = status, list(headers)
        self.transport = self.transport or Transport()
        return self.transport

    def close(self, status: int | None = None) -> None:  # the websocket protocol's close
        self.closed_with = status

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.payload)


def request(method: str, path: str, body: bytes = b"", query: str = "", headers: dict[str, str] | None = None,
            extra_headers: list[tuple[str, str]] = ()) -> tuple[Scope, Proto]:
    """A scope and protocol for one request, with Content-Length when there is a body, as clients send it."""
    pairs = [(k, v) for k, v in (headers or {}).items()]
    if body:
        pairs.append(("content-length", str(len(body))))
    return Scope(method, path, query, [*pairs, *extra_headers]), Proto(body)


def run_gateway(gateway: Gateway, scenario: Callable[[Gateway], Awaitable[Any]]) -> Any:
    """Start `gateway` on a fresh event loop, run `scenario(gateway)` there, stop the gateway."""
    async def main() -> Any:
        gateway.start(asyncio.get_running_loop())
        try:
            return await scenario(gateway)
        finally:
            gateway.stop()

    return asyncio.run(main())


async def answer(gateway: Gateway, scope: Scope, proto: Proto) -> Proto:
    await gateway.__rsgi__(scope, proto)
    return proto
