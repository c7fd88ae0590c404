"""Serve a WSGI app live with a production server (granian), never Flask's development server.

One worker process holds all state (the fakes keep their stores in memory), with a pool of
blocking threads for concurrent requests. The app is built inside the worker by `factory`, so
the scheduler's threads start in the process that serves. The worker dies with its supervisor
(PR_SET_PDEATHSIG), so a `kill -9` of a service never leaves an orphan holding the port. The
worker's collector is tuned for the large in-memory stores it will hold (`harness.gc_tuning`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from harness.gc_tuning import tune_for_long_lived_stores
from harness.processes import die_with_parent
from harness.transport import WSGIApp

DEFAULT_HOST = "127.0.0.1"
DEFAULT_THREADS = 8

log = logging.getLogger(__name__)


def serve(factory: Callable[[], WSGIApp], port: int, host: str = DEFAULT_HOST,
          threads: int = DEFAULT_THREADS, name: str = "harness") -> None:
    """Block serving `factory()` on host:port until SIGINT/SIGTERM."""
    from granian.constants import Interfaces
    from granian.server import Server

    def load(_target: str) -> WSGIApp:
        die_with_parent()
        app = factory()
        tune_for_long_lived_stores()
        return app

    server = Server(target=name, address=host, port=port, interface=Interfaces.WSGI, workers=1,
                    blocking_threads=threads, log_level="warning", log_access=False, process_name=None)
    server.serve(target_loader=load)
