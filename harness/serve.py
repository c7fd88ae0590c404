"""Serve a service live: its WSGI app behind the gateway (`harness.gateway`), on granian's RSGI interface.

One worker process holds all state (the fakes keep their stores in memory); the gateway answers on
one event loop with a pool of `threads` threads for the WSGI app. The app is built inside the
worker by `factory`, so the scheduler's threads start in the process that serves. The worker dies
with its supervisor (PR_SET_PDEATHSIG), so a `kill -9` of a service never leaves an orphan holding
the port, and its collector is tuned for the large in-memory stores it will hold
(`harness.gc_tuning`).

A taken port is refused before anything starts: granian binds with SO_REUSEPORT, so a second
server on the same port would start and silently share the traffic with the first.

Stopping: granian's worker waits for every open response to end before it stops, and an event
stream or a websocket never ends by itself. So the worker's SIGINT/SIGTERM handler also tells the
gateway to end them, and the supervisor kills a worker still alive `KILL_TIMEOUT` s later.

Settings measured on this machine (docs/performance.md, "The gateway"): uvloop, granian's
single-threaded runtime, asyncio tasks.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

from harness.gateway import Gateway
from harness.gc_tuning import tune_for_long_lived_stores
from harness.processes import die_with_parent, port_taken

DEFAULT_HOST = "127.0.0.1"
DEFAULT_THREADS = 8
KILL_TIMEOUT = 1  # seconds between the worker's SIGTERM and its SIGKILL
SAVE_KILL_TIMEOUT = 60  # the same for a worker that saves its state at SIGTERM (a large world takes seconds)
# granian's event loop, runtime and task implementation, as measured (benchmarks/servers.py compares others)
GRANIAN_OPTIONS = {"loop": "uvloop", "runtime_mode": "st", "task_impl": "asyncio"}


def refuse_taken_port(host: str, port: int, prog: str) -> None:
    """Exit with one line when something already listens on host:port."""
    if port_taken(host, port):
        sys.exit(f"{prog}: port {port} on {host} is already in use (another bsim up?)")


def _end_streams_on_signal(gateway: Gateway, on_stop: Callable[[], None] | None = None) -> None:
    """Have the worker's SIGINT/SIGTERM handler stop the gateway (its streams end, its requests in progress
    finish, then `on_stop()`, a persisting service's clean save, runs) before it stops granian: the worker
    cannot exit before that.

    granian installs that handler with `granian._signals.set_loop_signals(loop)` in the worker, after
    this process's loader has run; it is wrapped here so the same signal first stops the gateway, and
    stops granian once the websockets' close frames are out (the worker leaves its loop once granian stops).
    (The callbacks granian's stop signal offers run only once every response has ended.)"""
    import granian._signals as granian_signals

    install = granian_signals.set_loop_signals

    def set_loop_signals(loop: Any) -> Any:
        stopping = install(loop)

        def stop() -> None:
            gateway.shutdown(then=stopping.set, first=on_stop)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        return stopping

    granian_signals.set_loop_signals = set_loop_signals


def serve(factory: Callable[[], Any], port: int, host: str = DEFAULT_HOST, threads: int = DEFAULT_THREADS,
          name: str = "harness", banner: str | None = None, granian_options: dict[str, str] | None = None,
          on_stop: Callable[[], None] | None = None) -> None:
    """Block serving `factory()` (a Gateway, or a WSGI app to put behind one) on host:port until
    SIGINT/SIGTERM. `banner` is the one line printed once the port is known to be free;
    `granian_options` overrides `GRANIAN_OPTIONS` (to compare them). A gateway with a websocket
    listener (`ws_port`) serves it from the same worker. `on_stop()` runs in the worker at SIGINT/SIGTERM
    once the requests in progress are answered (a persisting fake saves its world there); the worker has
    `SAVE_KILL_TIMEOUT` s, not `KILL_TIMEOUT`, before it is killed."""
    from granian.constants import Interfaces, Loops, RuntimeModes, TaskImpl
    from granian.server import Server

    options = {**GRANIAN_OPTIONS, **(granian_options or {})}

    refuse_taken_port(host, port, f"python -m {name}")
    if banner:
        print(banner, file=sys.stderr, flush=True)

    def load(_target: str) -> Any:
        die_with_parent()
        app = factory()
        gateway = app if isinstance(app, Gateway) else Gateway(app, threads=threads, service=name)
        _end_streams_on_signal(gateway, on_stop)
        tune_for_long_lived_stores()
        return gateway

    server = Server(target=name, address=host, port=port, interface=Interfaces.RSGI, workers=1,
                    loop=Loops(options["loop"]), runtime_mode=RuntimeModes(options["runtime_mode"]),
                    task_impl=TaskImpl(options["task_impl"]),
                    workers_kill_timeout=KILL_TIMEOUT if on_stop is None else SAVE_KILL_TIMEOUT,
                    log_level="warning", log_access=False, process_name=None)
    server.serve(target_loader=load)
