"""Start services as child processes and wait until they answer: for `bsim`, demos and live tests."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import requests

log = logging.getLogger(__name__)


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (PR_SET_PDEATHSIG), so a `kill -9` of a
    supervisor never leaves a child holding a port or acting on a stream."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)
    except OSError:  # not glibc: the child may outlive a killed parent
        log.debug("PR_SET_PDEATHSIG unavailable")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_taken(host: str, port: int) -> bool:
    """Something listens on host:port. Probed with a bind without SO_REUSEPORT, which fails while
    a server (granian binds with SO_REUSEPORT) holds the port; SO_REUSEADDR, as servers bind, so the
    TIME_WAIT leftovers of a server that just stopped do not count."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
        return False


@dataclass
class ServiceProcess:
    name: str
    url: str
    process: subprocess.Popen

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def start_service(name: str, module: str, port: int, args: Sequence[str] = (), env: dict[str, str] | None = None,
                  startup_timeout: float = 30.0, health_path: str = "/_admin/health",
                  quiet: bool = True) -> ServiceProcess:
    """Run `python -m module --port port *args` and return once `health_path` answers 200."""
    cmd = [sys.executable, "-m", module, "--port", str(port), *args]
    out = subprocess.DEVNULL if quiet else None
    # the service dies with whoever started it (a killed `bsim up` or test run leaves no orphan on its port)
    process = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=out, stderr=out,
                               preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} before answering")
        try:
            if requests.get(url + health_path, timeout=0.5).status_code == 200:
                return ServiceProcess(name, url, process)
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{name} did not answer on {url} within {startup_timeout} s")
        time.sleep(0.05)


def wait_for(condition, timeout: float, interval: float = 0.1) -> bool:
    """Poll `condition()` until it is true or `timeout` passes (for callers outside any service:
    the CLI and tests waiting on live servers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except requests.RequestException:
            pass
        time.sleep(interval)
    return False


def ticks(interval: float, count: int | None = None):
    """Yield every `interval` seconds (forever, or `count` times): the pace of a CLI that follows
    servers, kept here so no code outside the kernel sleeps."""
    done = 0
    while count is None or done < count:
        yield done
        done += 1
        time.sleep(interval)
