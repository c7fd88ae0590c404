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
from pathlib import Path

import requests

from harness.admin_client import admin_headers
from harness.admin_guard import SHARED_TOKEN_ENV

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


_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, never one this process handed out before: the kernel may offer a just-closed
    port again, and two servers given it would both bind (SO_REUSEPORT) and split its requests between them."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


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


def describe_exit(returncode: int) -> str:
    """'exit code 1', or 'killed by SIGKILL' for a process a signal ended."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def last_line(log: Path | None, since: int = 0) -> str:
    """The last non-empty line a process wrote to its log after byte `since` ('' without one)."""
    if log is None or not log.exists():
        return ""
    with log.open("rb") as file:
        file.seek(max(since, file.seek(0, os.SEEK_END) - 8192))
        lines = [line.strip() for line in file.read().decode("utf-8", "replace").splitlines()]
    return next((line for line in reversed(lines) if line), "")


@dataclass
class ServiceProcess:
    name: str
    url: str
    process: subprocess.Popen
    log: Path | None = None  # where its output goes, when not to the terminal
    log_mark: int = 0  # the log's size once it answered: what it says later is news (its banner is not)

    def exit_summary(self) -> str:
        """One line: who exited, how, and the last thing it said since it started serving (no traceback)."""
        said = last_line(self.log, self.log_mark)
        return f"{self.name} exited ({describe_exit(self.process.returncode)})" + (f": {said}" if said else "")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        stop_all([self.process], timeout)
        return self.process.returncode


def stop_all(processes: Sequence[subprocess.Popen], grace: float = 3.0) -> None:
    """SIGTERM every process at once, wait up to `grace` seconds for all of them together, then SIGKILL
    whoever is left: stopping N processes takes one grace period, not N."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    for process in running:
        process.wait()


def start_service(name: str, module: str, port: int, args: Sequence[str] = (), env: dict[str, str] | None = None,
                  startup_timeout: float = 30.0, health_path: str = "/_admin/health",
                  quiet: bool = True, log: Path | None = None, admin_token: str | None = None) -> ServiceProcess:
    """Run `python -m module --port port *args` and return once `health_path` answers 200. Its output
    goes to `log` when given (appended), else to the terminal, or nowhere when `quiet`. The health check
    sends `admin_token`, else the BSIM_ADMIN_TOKEN the service itself gets, if any."""
    cmd = [sys.executable, "-m", module, "--port", str(port), *args]
    env = {**os.environ, **(env or {})}
    headers = admin_headers(admin_token or env.get(SHARED_TOKEN_ENV))
    out = log.open("ab") if log is not None else subprocess.DEVNULL if quiet else None
    try:
        # the service dies with whoever started it (a killed `bsim up` or test run leaves no orphan on its port)
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=out,
                                   preexec_fn=die_with_parent)
    finally:
        if log is not None:
            out.close()
    service = ServiceProcess(name, f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{service.exit_summary()} before answering")
        try:
            if requests.get(service.url + health_path, headers=headers, timeout=0.5).status_code == 200:
                service.log_mark = log.stat().st_size if log is not None else 0
                return service
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"{name} did not answer on {service.url} within {startup_timeout} s")
        time.sleep(0.05)


def wait_for(condition, timeout: float, interval: float = 0.1, backoff_to: float | None = None) -> bool:
    """Poll `condition()` until it is true or `timeout` passes (for callers outside any service:
    the CLI and tests waiting on live servers). With `backoff_to`, the pause doubles from `interval` up to it:
    an answer that lands within milliseconds is seen at once, a slow one is not hammered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except requests.RequestException:
            pass
        time.sleep(interval)
        if backoff_to is not None:
            interval = min(interval * 2, backoff_to)
    return False


def ticks(interval: float, count: int | None = None):
    """Yield every `interval` seconds (forever, or `count` times): the pace of a CLI that follows
    servers, kept here so no code outside the kernel sleeps."""
    done = 0
    while count is None or done < count:
        yield done
        done += 1
        time.sleep(interval)
