"""Which live server for the services: the gateway on granian's RSGI interface (`harness.serve`, what
the services use), granian's WSGI interface, gunicorn (gthread) and waitress, each serving the same
apps pinned to one core, loaded by `wrk` pinned to the other.

    .venv/bin/python benchmarks/servers.py [--seconds 5] [--variants] [--json out.json]

Apps: a bare Flask route that parses the request JSON, and the fake Sendbird's realtime send (its
fast route: inline on the gateway's loop, ahead of Flask on the WSGI servers). All servers run one
process (the fakes keep state in memory) with 8 threads. `--variants` adds the gateway with the
other granian settings (asyncio's own loop, the multi-threaded runtime, granian's Rust tasks).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from rich.console import Console
from rich.table import Table

from benchmarks.common import start_live, wrk
from benchmarks.sendbird_send import LUA_REALTIME, TEMPLATE
from harness.processes import free_port

THREADS = 8
APPS = {
    "bare route": "from benchmarks.common import hello_app as factory",
    # the collector tuned as harness.serve tunes it, so every server gets the same app
    "fake Sendbird send": ("from harness.runtime import Runtime\nfrom mocks.sendbird import create_app\n"
                           "from harness.gc_tuning import tune_for_long_lived_stores\n"
                           "def factory():\n    app = create_app(Runtime.live())\n"
                           "    tune_for_long_lived_stores()\n    return app"),
}
GATEWAY = "from harness.serve import serve\nserve(factory, {port}, threads={threads}, granian_options=OPTIONS)"
SERVERS = {
    "gateway (granian RSGI)": GATEWAY.replace("OPTIONS", "None"),
    "granian WSGI": (
        "from granian.constants import Interfaces\nfrom granian.server import Server\n"
        "Server(target='bench', address='127.0.0.1', port={port}, interface=Interfaces.WSGI, workers=1,\n"
        "       blocking_threads={threads}, log_level='error').serve(target_loader=lambda _: factory())"),
    "gunicorn gthread": (
        "from gunicorn.app.base import BaseApplication\n"
        "class App(BaseApplication):\n"
        "    def load_config(self):\n"
        "        for k, v in dict(bind='127.0.0.1:{port}', workers=1, threads={threads}, worker_class='gthread',\n"
        "                         loglevel='warning', accesslog=None).items(): self.cfg.set(k, v)\n"
        "    def load(self): return factory()\n"
        "App().run()"),
    "waitress": ("import waitress\nwaitress.serve(factory(), host='127.0.0.1', port={port}, threads={threads}, "
                 "_quiet=True)"),
}


NEEDS = {"gunicorn gthread": "gunicorn", "waitress": "waitress"}  # optional: measured when installed
VARIANTS = {
    "gateway, asyncio loop": {"loop": "asyncio"},
    "gateway, multi-threaded runtime": {"runtime_mode": "mt"},
    "gateway, Rust tasks": {"task_impl": "rust"},
}


def measure(app: str, server: str, seconds: int) -> float:
    port = free_port()
    root = str(Path(__file__).resolve().parent.parent)
    if server in VARIANTS:
        serving = GATEWAY.format(port=port, threads=THREADS).replace("OPTIONS", repr(VARIANTS[server]))
    else:
        serving = SERVERS[server].format(port=port, threads=THREADS)
    code = (f"import sys, logging; sys.path.insert(0, {root!r}); logging.disable(logging.WARNING)\n{APPS[app]}\n"
            + serving)
    live = start_live(code, port, health="/_admin/health" if app != "bare route" else "/")
    try:
        if app != "bare route":
            requests.post(live.url + "/v1/templates", json=TEMPLATE, headers={"Api-Token": "local-sendbird-token"},
                          timeout=5).raise_for_status()
        result = wrk(live.url, LUA_REALTIME, seconds, 16)
        if result.failures:
            raise RuntimeError(f"{server}/{app}: {result.failures} failed requests")
        return result.requests_per_s
    finally:
        live.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--variants", action="store_true", help="also the gateway with other granian settings")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    servers = [s for s in SERVERS if importlib.util.find_spec(NEEDS.get(s, "granian"))]
    servers += list(VARIANTS) if args.variants else []
    if skipped := [s for s in SERVERS if s not in servers]:
        print(f"skipped (not installed): {', '.join(skipped)}")
    figures = {server: {app: measure(app, server, args.seconds) for app in APPS} for server in servers}
    table = Table(title=f"one process, {THREADS} threads, server on core 0, wrk on core 1 (req/s)")
    table.add_column("server")
    for app in APPS:
        table.add_column(app, justify="right")
    table.add_column("send : bare", justify="right")
    base = figures["granian WSGI"]["bare route"]
    for server, row in figures.items():
        table.add_row(server, *(f"{row[a]:,.0f} ({row[a] / base:.2f}x granian WSGI bare)" for a in APPS),
                      f"{row['fake Sendbird send'] / row['bare route']:.2f}x")
    Console().print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
