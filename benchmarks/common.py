"""Shared pieces of the benchmarks: the bare reference app, pinned live servers, wrk runs.

Every throughput figure is a ratio against a bare Flask route that parses the same request JSON,
served the same way (in-process transport, or the same live server pinned to the same core) in
the same run, so a noisy shared machine changes both sides alike.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template

import requests
from flask import Flask, jsonify, request

from harness.admin_client import admin_headers

SERVER_CORE = "0"
CLIENT_CORE = "1"


def hello_app() -> Flask:
    """The reference: one route for any path that parses the JSON body and answers a small JSON."""
    app = Flask("hello")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT"])
    def hello(path: str):
        body = request.get_json(silent=True)
        return jsonify({"ok": True, "fields": len(body) if isinstance(body, dict) else 0})

    return app


def pinned(cmd: list[str], core: str) -> list[str]:
    return ["taskset", "-c", core, *cmd] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else cmd


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - start


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


ROOT = str(Path(__file__).resolve().parent.parent)
# The services a benchmark starts inherit its environment, BSIM_ADMIN_TOKEN included: admin calls send it.
ADMIN = admin_headers()
SERVE_MODULE = """
import logging; logging.disable(logging.WARNING)
from {module}.__main__ import main
main({args!r})
"""
SERVE_HELLO = """
import sys; sys.path.insert(0, {root!r})
from benchmarks.common import hello_app
from harness.serve import serve
serve(hello_app, {port})
"""


def start_hello(port: int) -> LiveServer:
    """The bare route under the same server as the services (the gateway), pinned to the server core."""
    return start_live(SERVE_HELLO.format(root=ROOT, port=port), port, health="/")


def start_module(module: str, port: int, args: list[str] = (), core: str = SERVER_CORE,
                 cwd: str | None = None) -> LiveServer:
    """A service's own `python -m <module> --port <port> ...`, pinned to `core`; `cwd`: a checkout whose code
    it runs instead of this one's (a benchmark comparing two revisions)."""
    return start_live(SERVE_MODULE.format(module=module, args=["--port", str(port), *args]), port, core=core,
                      cwd=cwd)


def start_live(code: str, port: int, health: str = "/_admin/health", core: str = SERVER_CORE,
               cwd: str | None = None) -> LiveServer:
    """Run a Python snippet that serves on `port`, pinned to `core`; wait for `health`."""
    errors = tempfile.TemporaryFile()  # noqa: SIM115 (the server writes it while starting; read if it fails)
    env = None if cwd is None else {**os.environ, "PYTHONPATH": cwd}
    proc = subprocess.Popen(pinned([sys.executable, "-c", code], core), stdout=subprocess.DEVNULL, stderr=errors,
                            cwd=cwd, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            requests.get(url + health, timeout=0.5)
            errors.close()
            return LiveServer(url, proc)
        except requests.RequestException:
            time.sleep(0.05)
    proc.kill()
    errors.seek(0)
    raise RuntimeError(f"server on {url} did not start: {errors.read().decode(errors='replace')[-2000:]}")


def post_script(path: str, header: str, value: str, body: str, limit: int | None = None, **exprs: str) -> str:
    """A wrk script that POSTs a JSON `body` to `path` with one extra header, each request different:
    in `body`, `$n` is the request's number (1, 2, ...) and `$name` the Lua expression `exprs[name]`
    (which may use `counter`). With `limit`, the number stops there and later requests repeat it."""
    pieces = {name: f"' .. ({lua}) .. '" for name, lua in {"n": "counter", **exprs}.items()}
    cap = f"\n  if counter > {limit} then counter = {limit} end" if limit is not None else ""
    return (f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["{header}"] = "{value}"\ncounter = 0\nrequest = function()\n'
            f"  counter = counter + 1{cap}\n  local body = '{Template(body).substitute(pieces)}'\n"
            f'  return wrk.format(nil, "{path}", nil, body)\nend\n')


@dataclass
class WrkResult:
    requests_per_s: float
    failures: int
    p50_ms: float | None
    p99_ms: float | None


def wrk(url: str, lua: str, seconds: int, connections: int) -> WrkResult:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        out = subprocess.run(pinned(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                                     script.name, url], CLIENT_CORE), capture_output=True, text=True,
                             check=True).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failures = (int(bad.group(1)) if bad else 0) + (sum(int(x) for x in errors.groups()) if errors else 0)
    return WrkResult(rps, failures, _latency(out, "50%"), _latency(out, "99%"))


def _latency(out: str, pct: str) -> float | None:
    m = re.search(rf"{re.escape(pct)}\s+([\d.]+)(us|ms|s)\b", out)
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
