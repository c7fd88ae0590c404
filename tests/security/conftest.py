"""The network as the outbound-policy tests see it (docs/security.md, "Outbound calls").

Every test here runs with `network` in place: a name resolves only through the test's own table (no DNS
query leaves), and a socket may connect to loopback only. A connect to any other address is recorded and
refused before it happens (ConnectionRefusedError), and the test fails unless it said it expected one:
nothing here ever sends traffic off the machine, whether the code under test is right or wrong.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from harness.clock import SimClock
from harness.ids import IdFactory
from harness.journal import Journal
from harness.outbound import LOOPBACK_ONLY, OutboundPolicy
from harness.runtime import Runtime
from harness.scheduler import Scheduler
from harness.transport import Transport

TEST_NET_1 = "192.0.2.1"
TEST_NET_2 = "198.51.100.7"


def _loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):  # a Unix socket
        return True
    try:
        ip = ipaddress.ip_address(str(address[0]).partition("%")[0])
    except ValueError:
        return False  # a name: the code under test connects to addresses it resolved itself
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


class Network:
    """What the code under test resolved and what it tried to connect to beyond loopback."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {"localhost": "127.0.0.1"}
        self.resolved: list[str] = []
        self.external: list[Any] = []
        self.expect_external = False

    def resolve(self, name: str, address: str) -> None:
        """From now on `name` resolves to `address` (a DNS answer that changes is DNS rebinding)."""
        self.names[name] = address


@pytest.fixture(autouse=True)
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    net = Network()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None:
            net.resolved.append(name)
            name = net.names.get(name.lower(), name)
            try:
                ipaddress.ip_address(name.partition("%")[0])
            except ValueError:
                raise socket.gaierror(socket.EAI_NONAME, f"test network: {host!r} is not in the test's table") from None
        return real_getaddrinfo(name, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    def refuse(address: Any) -> None:
        net.external.append(address)
        raise ConnectionRefusedError(errno.ECONNREFUSED, f"test network: no connection to {address} leaves here")

    def connect(sock: socket.socket, address: Any) -> None:
        if not _loopback(address):
            refuse(address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not _loopback(address):
            net.external.append(address)
            return errno.ECONNREFUSED
        return real_connect_ex(sock, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if not _loopback(address):
            refuse(address)
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield net
    if net.external and not net.expect_external:
        pytest.fail(f"a socket tried to connect beyond loopback: {net.external}")


def runtime_with_live_http(outbound: OutboundPolicy = LOOPBACK_ONLY, seed: int = 1) -> Runtime:
    """A simulated clock and scheduler (so a test drives time and nothing runs on a thread), with the live
    HTTP transport under `outbound`: real urllib3 connections, real policy checks."""
    clock = SimClock()
    return Runtime(clock=clock, scheduler=Scheduler(clock), journal=Journal(clock), ids=IdFactory(seed),
                   transport=Transport(simulated=False, outbound=outbound))


class LoopbackServer:
    """A WSGI app on an ephemeral 127.0.0.1 port, served by werkzeug in a test thread."""

    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="security-test-server", daemon=True)
        self.thread.start()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[LoopbackServer] = []

    def start(app: Any) -> LoopbackServer:
        servers.append(LoopbackServer(app))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
