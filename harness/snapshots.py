"""Saved worlds: a service's whole state in one file, refused whole when it is not right.

Why a file format of our own rather than a bare pickle: a snapshot is loaded at a service's start from
a path an operator typed, so it must say what it is before anything is unpickled. Line 1 is a JSON
header (`{"format": "bsim-snapshot", "version": 1, "service", "taken_at", "clean", "sha256", "bytes"}`),
then a newline, then the payload: a zlib-compressed pickle of plain data. The header is checked first
(format, version, service, length, checksum), then the payload is unpickled with an allow-list of
classes (builtins' containers, datetime, decimal, collections, and classes of this project's own
`mocks.`, `harness.` and `bridge.` modules), so a file from elsewhere cannot run code. Any problem is
one `SnapshotError` with one clear message, raised before the service's state is touched: the
service's `restore_state` builds its whole new state before it swaps it in.

The journal rides along (records, seq, epoch). A `clean` snapshot (taken at shutdown, after the last
request) restores the journal's epoch too, so followers read on as if nothing happened. Any other
(periodic) snapshot restores the records under a NEW epoch: records written after it were lost with the
process, and a follower must be told the service restarted (docs/journal.md). Because a clean snapshot
is only true until the service writes again, a service that loads one at start writes an unclean one
over it at once (`SnapshotKeeper.load_at_start`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from harness.runtime import Runtime

log = logging.getLogger(__name__)

FORMAT = "bsim-snapshot"
VERSION = 1
HEADER_LIMIT = 4096  # a header longer than this is not one of ours
SUFFIX = ".snapshot"
SEED_SUFFIX = ".seed.snapshot"
SAVE_SPACING = 4.0  # a periodic save waits at least this many times its last duration before the next
_READS = frozenset({"GET", "HEAD", "OPTIONS"})

_ALLOWED_BUILTINS = frozenset({
    "dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray", "str", "int", "float", "complex", "bool",
    "slice", "range",
})
_ALLOWED = {
    "datetime": frozenset({"datetime", "date", "time", "timedelta", "timezone"}),
    "decimal": frozenset({"Decimal"}),
    "collections": frozenset({"OrderedDict", "deque", "defaultdict", "Counter"}),
}
_PROJECT_PACKAGES = ("mocks.", "harness.", "bridge.")


class SnapshotError(ValueError):
    """A snapshot that cannot be loaded (or taken); the message says what is wrong, in one line."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Finds only allowed classes: never a function, never a class from another package."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _ALLOWED_BUILTINS:
            return super().find_class(module, name)
        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        if module.startswith(_PROJECT_PACKAGES) and "." not in name:
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise SnapshotError(f"the snapshot holds {module}.{name}, which a snapshot may not hold "
                            "(only plain data and this project's own classes are loaded)")


@dataclass(frozen=True)
class Snapshot:
    """A decoded snapshot: its header and its state (`{"service": ..., "journal": ..., "ids": ...}`)."""

    header: dict[str, Any]
    state: dict[str, Any]

    @property
    def clean(self) -> bool:
        return bool(self.header.get("clean"))


def encode(service: str, state: Any, clean: bool, taken_at: datetime | None = None) -> bytes:
    """The file's bytes for `state` of `service`."""
    try:
        payload = zlib.compress(pickle.dumps(state, protocol=5), 1)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise SnapshotError(f"the {service} state could not be saved: {exc}") from exc
    header = {"format": FORMAT, "version": VERSION, "service": service,
              "taken_at": (taken_at or datetime.now(UTC)).isoformat(), "clean": clean,
              "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)}
    return json.dumps(header, separators=(",", ":")).encode("ascii") + b"\n" + payload


def read_header(data: bytes, source: str = "the snapshot") -> tuple[dict[str, Any], bytes]:
    """The header and payload of a file's bytes, checked; SnapshotError saying what is wrong."""
    end = data.find(b"\n", 0, HEADER_LIMIT)
    if end < 0:
        raise SnapshotError(f"{source} is not a bsim snapshot (no header line)")
    try:
        header = json.loads(data[:end])
    except (ValueError, UnicodeDecodeError):
        raise SnapshotError(f"{source} is not a bsim snapshot (its first line is not a JSON header)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SnapshotError(f"{source} is not a bsim snapshot (format is not {FORMAT!r})")
    if header.get("version") != VERSION:
        raise SnapshotError(f"{source} is a version {header.get('version')!r} snapshot; this bsim reads "
                            f"version {VERSION}")
    payload = data[end + 1:]
    if not isinstance(header.get("bytes"), int) or len(payload) != header["bytes"]:
        raise SnapshotError(f"{source} is truncated or padded: its header says {header.get('bytes')!r} bytes of "
                            f"payload, the file holds {len(payload)}")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise SnapshotError(f"{source} is corrupt: its payload does not match its sha256")
    return header, payload


def decode(data: bytes, service: str, source: str = "the snapshot") -> Snapshot:
    """A file's bytes as a Snapshot of `service`, or SnapshotError (nothing is loaded anywhere)."""
    header, payload = read_header(data, source)
    if header.get("service") != service:
        raise SnapshotError(f"{source} is a snapshot of {header.get('service')!r}, not of {service!r}")
    try:
        state = _RestrictedUnpickler(io.BytesIO(zlib.decompress(payload))).load()
    except SnapshotError:
        raise
    except Exception as exc:  # zlib.error, UnpicklingError, EOFError, an allowed class that will not build...
        raise SnapshotError(f"{source} could not be read: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or "service" not in state:
        raise SnapshotError(f"{source} holds no {service} state")
    return Snapshot(header, state)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` so a reader (or a crash) sees the old file or the new one, never half of one."""
    target = Path(path)
    if not target.parent.is_dir():
        raise SnapshotError(f"cannot write {target}: {target.parent} is not a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return target
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return target


def read_file(path: str | os.PathLike[str], service: str) -> Snapshot:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror or exc}") from None
    return decode(data, service, str(path))


def has_world(directory: str | os.PathLike[str], service: str) -> bool:
    """Whether a persist directory holds a saved world of `service` (a snapshot or a seed)."""
    base = Path(directory)
    return (base / f"{service}{SUFFIX}").is_file() or (base / f"{service}{SEED_SUFFIX}").is_file()


class WriteCounter:
    """WSGI middleware counting writing requests into `keeper.writes` (it keeps what it wraps as `app`, as every
    harness middleware does, so `harness.limits.wsgi_layer` finds the layers under it)."""

    def __init__(self, app: Callable, keeper: SnapshotKeeper) -> None:
        self.app = app
        self.keeper = keeper

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        if environ.get("REQUEST_METHOD") not in _READS:
            self.keeper.writes += 1
        return self.app(environ, start_response)


class SnapshotKeeper:
    """A service's snapshots: taking and loading them, its seed world, and its persist directory.

    `snapshot_state()` answers the service's state as plain data; `restore_state(state)` builds the whole of it
    and swaps it in (raising, with nothing changed, when it cannot); `reset()` empties the service. The
    journal and the id generator of the service's runtime are saved with it (docs/persistence.md)."""

    def __init__(self, service: str, runtime: Runtime, snapshot_state: Callable[[], Any],
                 restore_state: Callable[[Any], None], reset: Callable[[], None]) -> None:
        self.service = service
        self.runtime = runtime
        self._snapshot_state = snapshot_state
        self._restore_state = restore_state
        self._reset = reset
        self.persist_dir: Path | None = None
        self.seed: Snapshot | None = None
        self.loaded: Snapshot | None = None  # what load_at_start loaded, for the banner
        self._periodic = None
        self._interval = 0.0
        self.writes = 0  # writing requests seen (`counting`)
        self._saved_mark: tuple[int, int] | None = None
        self._save_lock = threading.Lock()
        self._closed = False

    # -- taking ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"service": self._snapshot_state(), "ids": self.runtime.ids.export_state(),
                "journal": self.runtime.journal.export_state()}

    def take(self, clean: bool = False) -> bytes:
        """The current state as a snapshot file's bytes."""
        return encode(self.service, self.state(), clean, self.runtime.clock.now())

    def save(self, path: str | os.PathLike[str], clean: bool = False) -> dict[str, Any]:
        """Write a snapshot atomically to `path`; what `POST /_admin/snapshot {"path"}` answers."""
        with self._save_lock:
            data = self.take(clean)
            written = write_atomic(path, data)
        return self._written(written, data)

    def _written(self, written: Path, data: bytes) -> dict[str, Any]:
        header = json.loads(data[:data.index(b"\n")])
        return {"path": str(written), "bytes": len(data), "taken_at": header["taken_at"], "service": self.service}

    # -- loading -----------------------------------------------------------------------------
    def restore(self, snapshot: Snapshot | bytes, with_runtime: bool = True) -> Snapshot:
        """Load a snapshot (bytes are decoded first): the service's state, then (`with_runtime`) its ids and
        journal (a clean snapshot keeps the journal's epoch, another gets a new one). SnapshotError before
        anything changed."""
        if isinstance(snapshot, bytes | bytearray):
            snapshot = decode(bytes(snapshot), self.service)
        state = snapshot.state
        ids = journal = None
        try:  # the runtime's parts are built first, the service's state last (it swaps itself in when built)
            if with_runtime and state.get("ids") is not None:
                ids = self.runtime.ids.prepare_state(state["ids"], clean=snapshot.clean)
            if with_runtime and state.get("journal") is not None:
                journal = self.runtime.journal.prepare_state(state["journal"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"the snapshot's journal or ids could not be loaded: {type(exc).__name__}: {exc}"
                                ) from exc
        try:
            self._restore_state(state["service"])
        except SnapshotError:
            raise
        except KeyError as exc:
            raise SnapshotError(f"the snapshot's {self.service} state could not be loaded: it has no {exc} "
                                "(not a state this version writes)") from exc
        except Exception as exc:
            raise SnapshotError(f"the snapshot's {self.service} state could not be loaded: "
                                f"{type(exc).__name__}: {exc}") from exc
        if ids is not None:
            self.runtime.ids.apply_state(ids)
        if journal is not None:
            self.runtime.journal.apply_state(journal, keep_epoch=snapshot.clean)
        return snapshot

    def reset_to(self, to: str) -> None:
        """`POST /_admin/reset {"to"}`: "empty" (as a bare reset) or "seed" (the seed world; the journal
        and the id generator are kept, as a reset keeps them: no id is handed out twice)."""
        if to == "empty":
            self._reset()
            return
        if self.seed is None:
            raise SnapshotError(f'{self.service} has no seed world yet: build one, then POST /_admin/snapshot '
                                '{"seed": true} to keep it (bsim up does this after seeding)')
        self._reset()
        self.restore(self.seed, with_runtime=False)

    def keep_seed(self) -> dict[str, Any]:
        """Keep the current state as the seed world (in memory, and in the persist dir when persisting)."""
        data = encode(self.service, {"service": self._snapshot_state()}, True, self.runtime.clock.now())
        self.seed = decode(data, self.service)
        answer: dict[str, Any] = {"seed": True, "service": self.service, "bytes": len(data),
                                  "taken_at": self.seed.header["taken_at"]}
        if self.persist_dir is not None:
            answer["path"] = str(write_atomic(self.persist_dir / f"{self.service}{SEED_SUFFIX}", data))
        return answer

    # -- persisting --------------------------------------------------------------------------
    @property
    def persist_path(self) -> Path | None:
        return None if self.persist_dir is None else self.persist_dir / f"{self.service}{SUFFIX}"

    def load_at_start(self, state_file: str | None = None, persist_dir: str | None = None,
                      interval: float | None = None) -> Snapshot | None:
        """What `--state FILE` and `--persist DIR` do at start: load FILE (else DIR's snapshot when there is
        one) and DIR's seed; when persisting, write an unclean snapshot at once (a clean one is true only
        until the service writes again) and every `interval` seconds. SnapshotError on a bad file."""
        if persist_dir is not None:
            directory = Path(persist_dir)
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SnapshotError(f"cannot use {persist_dir} as the persist directory: "
                                    f"{exc.strerror or exc}") from None
            self.persist_dir = directory
            seed_path = directory / f"{self.service}{SEED_SUFFIX}"
            if seed_path.is_file():
                self.seed = read_file(seed_path, self.service)
        source = Path(state_file) if state_file is not None else self.persist_path
        if source is not None and (state_file is not None or source.is_file()):
            self.loaded = self.restore(read_file(source, self.service))
        if self.persist_dir is not None:
            mark = self._change_mark()
            self.save_now(clean=False)
            self._saved_mark = mark
            if interval is not None and interval > 0:
                self._interval = interval
                self._schedule_save(interval)
        return self.loaded

    def _schedule_save(self, delay: float) -> None:
        self._periodic = self.runtime.scheduler.after(delay, self._save_periodically,
                                                      name=f"{self.service}.snapshot", daemon=True)

    def _change_mark(self) -> tuple[int, int]:
        """What moves when the state may have changed: writing requests seen and journal records written (the
        scheduler's work and the SDK's websocket journal what they change)."""
        return self.writes, self.runtime.journal.cursor

    def counting(self, wsgi_app: Callable) -> WriteCounter:
        """`wsgi_app` counting its writing requests (not GET/HEAD/OPTIONS), so a periodic save of an idle service
        is skipped. (The gateway's fast routes pass by it: the sends they answer write journal records.)"""
        return WriteCounter(wsgi_app, self)

    def save_now(self, clean: bool = False) -> dict[str, Any] | None:
        """Save to the persist directory (nothing when not persisting)."""
        path = self.persist_path
        return None if path is None else self.save(path, clean)

    def _save_periodically(self) -> None:
        """One periodic save, skipped when nothing moved since the last; the next comes after the interval or
        `SAVE_SPACING` times this save's duration, whichever is longer, so a large world under load spends at
        most about a fifth of its time saving."""
        path = self.persist_path
        took = 0.0
        try:
            with self._save_lock:
                if self._closed or path is None:
                    return
                mark = self._change_mark()
                if mark != self._saved_mark:
                    started = time.monotonic()
                    write_atomic(path, self.take(clean=False))
                    took = time.monotonic() - started
                    self._saved_mark = mark
        except Exception:  # a failed save must not stop the next one
            log.exception("periodic snapshot of %s failed", self.service)
        if not self._closed:
            self._schedule_save(max(self._interval, SAVE_SPACING * took))

    def save_on_shutdown(self) -> dict[str, Any] | None:
        """The clean save at SIGTERM/SIGINT, once the server has answered the requests in progress. The
        scheduler stops first (the tasks running finish, a periodic save among them): a task run after the save
        would change what the restart has forgotten (a webhook's attempt made twice, an id handed out twice).
        Its pending work is in the state, as data, and is scheduled again at restore."""
        if self._periodic is not None:
            self.runtime.scheduler.cancel(self._periodic)
        self.runtime.scheduler.shutdown(wait=True)
        path = self.persist_path
        with self._save_lock:
            if self._closed:  # SIGINT reaches the worker twice from a terminal: its own, and its supervisor's TERM
                return None
            self._closed = True
            if path is None:
                return None
            data = self.take(clean=True)
            return self._written(write_atomic(path, data), data)


class PersistSettings(BaseModel):
    """The snapshot flags every fake takes (`harness.settings` makes them `--state`, `--persist`,
    `--persist-interval`)."""

    state: str | None = Field(None, description="load this snapshot file at start (a bad file: the service "
                                                "does not start)")
    persist: str | None = Field(None, description="keep the world in this directory: load DIR/<service>.snapshot "
                                                  "at start, save it on SIGTERM/SIGINT and periodically")
    persist_interval: float = Field(2.0, ge=0, description="seconds between periodic saves with --persist "
                                                            "(0: only at shutdown)")


def check_at_start(prog: str, service: str, settings: PersistSettings) -> None:
    """In the command's own process, before the server starts: exit with one line when the file to load is
    not a good snapshot of `service` (the worker loads it again, and builds the state)."""
    source = settings.state
    if source is None and settings.persist is not None:
        candidate = Path(settings.persist) / f"{service}{SUFFIX}"
        source = str(candidate) if candidate.is_file() else None
    if settings.persist is not None and Path(settings.persist).exists() and not Path(settings.persist).is_dir():
        raise SystemExit(f"{prog}: --persist {settings.persist} is not a directory")
    if source is not None:
        try:
            read_file(source, service)
        except SnapshotError as exc:
            raise SystemExit(f"{prog}: {exc}") from None


def start_keeping(prog: str, keeper: SnapshotKeeper, settings: PersistSettings) -> None:
    """In the worker: load what the flags say and start the periodic saves; a state that will not load ends
    the process with one line (granian does not respawn a worker that fails to start)."""
    try:
        loaded = keeper.load_at_start(settings.state, settings.persist,
                                      settings.persist_interval if settings.persist else None)
    except SnapshotError as exc:
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
        os._exit(2)
    if loaded is not None:
        kind = "clean" if loaded.clean else "unclean"
        print(f"{prog}: loaded the {kind} snapshot taken at {loaded.header['taken_at']}", file=sys.stderr,
              flush=True)


def persist_note(settings: PersistSettings) -> str:
    """The banner's words for the flags ('' when neither is given)."""
    words = []
    if settings.state:
        words.append(f"state from {settings.state}")
    if settings.persist:
        every = f", every {settings.persist_interval:g} s" if settings.persist_interval else ""
        words.append(f"world kept in {settings.persist} (saved at shutdown{every})")
    return "".join(f"; {w}" for w in words)
