"""The fake Sendbird's WebSocket: what it costs the realtime send, and what one process holds.

    .venv/bin/python benchmarks/sendbird_sockets.py [--seconds 5] [--rounds 2] [--sockets 200]
                                                    [--hold 1000,4000] [--json out.json]

Send: `wrk` (core 1) posts realtime sends to the fake (core 0; HTTP on granian's RSGI interface, the SDK
WebSocket on its own port, `harness.ws_listener`), each to one of `--sockets` users, in interleaved rounds
of: no socket open, and one socket per user open, each pushed an ADMM per send and drained by a client
process on core 1. Hold: `--hold` sockets opened by that client, the worker's RSS before and after, for
the fake and for the same server with a handler that only echoes (what the listener itself costs a socket).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from rich.console import Console
from rich.table import Table

from benchmarks.common import CLIENT_CORE, LiveServer, pinned, post_script, start_live, wrk
from benchmarks.sendbird_send import HEADERS, TEMPLATE
from harness.processes import free_port
from mocks.sendbird import DEFAULT_API_TOKEN

SERVE = """
import logging; logging.disable(logging.WARNING)
import mocks.sendbird.__main__ as entry
entry.main(["--port", "{port}", "--ws-port", "{ws_port}"])
"""
# The floor under the fake's figure: the same server, gateway and listener, a handler that only echoes.
SERVE_ECHO = """
import logging; logging.disable(logging.WARNING)
from flask import Flask
from harness.gateway import Gateway
from harness.serve import serve

async def echo(scope, proto):
    transport = await proto.accept(subprotocol=scope.headers.get("sec-websocket-protocol"))
    while (await transport.receive()).kind != 0:
        pass

def factory():
    app = Flask("echo")
    app.get("/_admin/health")(lambda: {{"ok": True}})
    return Gateway(app, threads=2, ws_handler=echo, ws_port={ws_port})

serve(factory, {port})
"""
# Opens sockets as the SDK does (user_id in the URL, `{}` as the subprotocol), prints "ready", then
# drains them until stdin closes and prints how many ADMM commands it read.
CLIENT = r"""
import asyncio, base64, os, sys
port, count, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
admm = 0

async def one(i):
    global admm
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /?p=JS&ai=LOCAL&user_id={prefix}{i} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Protocol: %7B%7D\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101") and b"%7B%7D" in head, head
    return reader, writer

async def drain(reader):
    global admm
    tail = b""
    while chunk := await reader.read(65536):
        admm += (tail + chunk).count(b"ADMM{")
        tail = chunk[-4:]

async def main():
    sockets = []
    for start in range(0, count, 200):
        sockets += await asyncio.gather(*(one(i) for i in range(start, min(count, start + 200))))
    tasks = [asyncio.ensure_future(drain(r)) for r, _ in sockets]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    print(admm, flush=True)
    os._exit(0)

asyncio.run(main())
"""


def start_fake(ws_port: int) -> LiveServer:
    port = free_port()
    server = start_live(SERVE.format(port=port, ws_port=ws_port), port)
    requests.post(server.url + "/v1/templates", json=TEMPLATE, headers=HEADERS, timeout=10).raise_for_status()
    return server


def open_sockets(ws_port: int, count: int, prefix: str) -> subprocess.Popen:
    client = subprocess.Popen(pinned([sys.executable, "-c", CLIENT, str(ws_port), str(count), prefix], CLIENT_CORE),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = client.stdout.readline().strip()
    if line != "ready":
        client.kill()
        raise RuntimeError(f"the socket client did not open its {count} sockets: {line!r}")
    return client


def close_sockets(client: subprocess.Popen) -> int:
    """The ADMM commands the client read."""
    out, _ = client.communicate("", timeout=60)
    return int(out.strip() or 0)


def worker_rss_mib(server: LiveServer) -> float:
    """Resident memory of the granian worker (the supervisor's only child), in MiB."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    status = Path(f"/proc/{children[0]}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return kib / 1024


def send_rounds(seconds: int, rounds: int, users: int) -> list[dict]:
    lua = post_script("/v1/notifications", "Api-Token", DEFAULT_API_TOKEN,
                      '{"template":{"key":"bench","variables":{"s$u":{"name":"Ada","code":"$n"}}},'
                      '"mode":"realtime","targets":["s$u"]}', u=f"counter % {users}")
    rows = []
    for round_no in range(1, rounds + 1):
        for label, sockets in (("no socket", 0), (f"{users} sockets", users)):
            ws_port = free_port()
            server = start_fake(ws_port)
            client = open_sockets(ws_port, users, "s") if sockets else None
            try:
                result = wrk(server.url, lua, seconds, 16)
            finally:
                pushed = close_sockets(client) if client else 0
                server.stop()
            if result.failures:
                raise RuntimeError(f"{label}: {result.failures} failed requests")
            rows.append({"round": round_no, "server": label, "sends_per_s": result.requests_per_s,
                         "p99_ms": result.p99_ms, "admm_read": pushed,
                         "sends": round(result.requests_per_s * seconds)})
    return rows


def hold(counts: list[int]) -> list[dict]:
    rows = []
    for count in counts:
        for label in ("echo handler", "fake Sendbird"):
            rows.append(hold_one(label, count))
    return rows


def hold_one(label: str, count: int) -> dict:
    ws_port = free_port()
    if label == "fake Sendbird":
        server = start_fake(ws_port)
    else:
        port = free_port()
        server = start_live(SERVE_ECHO.format(port=port, ws_port=ws_port), port)
    try:
        time.sleep(1)  # the worker settles after its first requests
        before = worker_rss_mib(server)
        client = open_sockets(ws_port, count, "h")
        time.sleep(1)
        after = worker_rss_mib(server)
        health = requests.get(server.url + "/_admin/health", timeout=10).status_code
        close_sockets(client)
    finally:
        server.stop()
    return {"server": label, "sockets": count, "rss_before_mib": before, "rss_after_mib": after,
            "kib_per_socket": (after - before) * 1024 / count, "health": health}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the two cases")
    parser.add_argument("--sockets", type=int, default=200, help="users with a socket open, each sent to")
    parser.add_argument("--hold", default="1000,4000", help="socket counts for the memory figure")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    console = Console()
    results = {"send": send_rounds(args.seconds, args.rounds, args.sockets),
               "hold": hold([int(n) for n in args.hold.split(",") if n])}
    table = Table(title="realtime sends to users who may have a socket open (wrk, 16 connections)")
    for col in ("round", "server", "sends/s", "p99 ms", "ADMM read"):
        table.add_column(col, justify="right")
    for row in results["send"]:
        table.add_row(str(row["round"]), row["server"], f"{row['sends_per_s']:,.0f}", f"{row['p99_ms']:.1f}",
                      f"{row['admm_read']:,} of ~{row['sends']:,}" if row["admm_read"] else "-")
    console.print(table)
    table = Table(title="sockets one fake Sendbird holds (worker RSS)")
    for col in ("server", "sockets", "RSS before MiB", "RSS after MiB", "KiB per socket", "health meanwhile"):
        table.add_column(col, justify="right")
    for row in results["hold"]:
        table.add_row(row["server"], f"{row['sockets']:,}", f"{row['rss_before_mib']:.1f}",
                      f"{row['rss_after_mib']:.1f}", f"{row['kib_per_socket']:.1f}", str(row["health"]))
    console.print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
