"""`POST /users/export/segment`: an asynchronous export of a segment's members, served by the fake itself.

Braze (`_docs/_api/endpoints/export/user_data/post_users_segment.md`) answers at once with an
`object_prefix` and, without cloud storage credentials, a `url` that "will only become a valid location
after the export is ready": a ZIP of files of user JSON objects, one per line, about one file per 5,000
users. The fake has no cloud storage, so it always answers with a `url` on itself, prepares the archive as
a scheduler task (members computed by the segment's filter when the task runs) and optionally POSTs
`{"success": true, "url": ...}` to `callback_endpoint` when it is ready. "A company may run at most one
export per segment at a given time" and at most 100 at once: more is a 429.

Harness contract: the archive is ready `PREPARE_SECONDS` after the request and downloadable for
`KEEP_SECONDS` (Braze: "only valid for a few hours"); its files are named `<object_prefix>-<n>.json`;
an empty segment gives an empty ZIP; `output_format` `zip` or `gzip` is accepted, and the download is
a ZIP either way (`gzip` only applies to one's own bucket).
"""

from __future__ import annotations

import io
import json
import logging
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from harness.runtime import Runtime
from harness.scheduler import TaskGroup
from mocks.braze.audience.segments import Segment, SegmentError, SegmentStore, compile_filter
from mocks.braze.rest import errors
from mocks.braze.rest.errors import BrazeError, bad_request
from mocks.braze.state import StateError, Swap, detached, expect, moment, record
from mocks.braze.users.export import export_profile, parse_fields
from mocks.braze.users.profiles import UserStore
from mocks.braze.users.received import MessageHistory

log = logging.getLogger(__name__)

PREPARE_SECONDS = 1.0
KEEP_SECONDS = 4 * 3600.0
USERS_PER_FILE = 5000
MAX_RUNNING = 100
MAX_CUSTOM_ATTRIBUTES = 500
DOWNLOAD_PATH = "/_exports"
OUTPUT_FORMATS = ("zip", "gzip")
CALLBACK_TIMEOUT = 30.0


@dataclass
class _Job:
    object_prefix: str
    segment: Segment
    fields: frozenset[str]
    custom_attributes: frozenset[str]
    callback: str | None
    url: str
    prepare_at: datetime  # when the archive is made
    archive: bytes | None = None
    expires_at: datetime | None = None  # once made: when it is gone


def _attribute_names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_request(errors.CUSTOM_ATTRIBUTES_TO_EXPORT)
    return value


class SegmentExports:
    def __init__(self, runtime: Runtime, users: UserStore, segments: SegmentStore, history: MessageHistory) -> None:
        self.runtime = runtime
        self.users = users
        self.segments = segments
        self.history = history
        self.tasks = TaskGroup(runtime.scheduler)
        self._http = runtime.transport.client(timeout=CALLBACK_TIMEOUT)
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    def start(self, body: Any, base_url: str) -> dict[str, Any]:
        """Validate the request and schedule the export; the answer Braze gives at once. `base_url` is
        this fake's own address as the client reached it, so the `url` works in live and simulated mode."""
        if not isinstance(body, dict):
            raise bad_request(errors.NOT_AN_OBJECT)
        segment_id = body.get("segment_id")
        segment = self.segments.get(segment_id) if isinstance(segment_id, str) and segment_id else None
        if segment is None:
            raise bad_request(errors.SEGMENT_ID_UNKNOWN)
        fields = parse_fields(body.get("fields_to_export"), required=True)
        custom = _attribute_names(body.get("custom_attributes_to_export", []))
        if len(custom) > MAX_CUSTOM_ATTRIBUTES:
            raise bad_request(errors.CUSTOM_ATTRIBUTES_TO_EXPORT)
        if body.get("output_format", "zip") not in OUTPUT_FORMATS:
            raise bad_request(errors.OUTPUT_FORMAT)
        callback = body.get("callback_endpoint")
        if callback is not None:
            try:
                callback = self.runtime.transport.check_url(callback)
            except ValueError as exc:
                raise bad_request(errors.CALLBACK_ENDPOINT.format(reason=exc)) from None
        now = self.runtime.clock.now()
        prefix = f"{self.runtime.ids.uuid()}-{int(now.timestamp())}"  # as recorded: uuid, then epoch seconds
        url = f"{base_url.rstrip('/')}{DOWNLOAD_PATH}/{prefix}.zip"
        with self._lock:
            running = [j for j in self._jobs.values() if j.archive is None]
            if any(j.segment.segment_id == segment.segment_id for j in running):
                raise BrazeError(429, errors.SEGMENT_EXPORT_RUNNING)
            if len(running) >= MAX_RUNNING:
                raise BrazeError(429, errors.TOO_MANY_SEGMENT_EXPORTS)
            self._jobs[prefix] = _Job(prefix, segment, fields, frozenset(custom), callback, url,
                                      now + timedelta(seconds=PREPARE_SECONDS))
        self.tasks.after(PREPARE_SECONDS, self._prepare, prefix, name="braze.segment_export")
        self.runtime.journal.record("braze", "segment_export.requested", None, object_prefix=prefix,
                                    segment_id=segment.segment_id)
        return {"object_prefix": prefix, "url": url, "message": "success"}

    def _prepare(self, prefix: str) -> None:
        job = self._jobs.get(prefix)
        if job is None:  # reset meanwhile
            return
        now = self.runtime.clock.now()
        members = job.segment.members(self.users, now)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for n, start in enumerate(range(0, len(members), USERS_PER_FILE)):
                lines = (json.dumps(export_profile(p, job.fields, self.history, now, job.custom_attributes),
                                    separators=(",", ":"))
                         for p in members[start:start + USERS_PER_FILE])
                archive.writestr(f"{prefix}-{n}.json", "\n".join(lines) + "\n")
        job.expires_at = now + timedelta(seconds=KEEP_SECONDS)
        job.archive = buffer.getvalue()
        self.tasks.at(job.expires_at, self._expire, prefix, name="braze.segment_export.expire")
        self.runtime.journal.record("braze", "segment_export.ready", None, object_prefix=prefix,
                                    segment_id=job.segment.segment_id, users=len(members))
        if job.callback is not None:
            self._call_back(job)

    def _call_back(self, job: _Job) -> None:
        """One POST, not retried (the docs promise no retries); the outcome goes to the journal."""
        try:
            status: int | None = self._http.post(job.callback, json={"success": True, "url": job.url}).status_code
            error = None
        except Exception as exc:  # an unreachable or refused callback must not lose the export
            status, error = None, f"{type(exc).__name__}: {exc}"
            log.info("segment export callback to %s failed: %s", job.callback, error)
        self.runtime.journal.record("braze", "segment_export.callback", None, object_prefix=job.object_prefix,
                                    url=job.callback, status=status, error=error)

    def _expire(self, prefix: str) -> None:
        with self._lock:
            self._jobs.pop(prefix, None)

    def archive(self, name: str) -> bytes | None:
        """The ZIP for `<object_prefix>.zip`, once ready and until it expires."""
        job = self._jobs.get(name.removesuffix(".zip")) if name.endswith(".zip") else None
        return job.archive if job is not None else None

    def reset(self) -> None:
        self.tasks.cancel_all()
        with self._lock:
            self._jobs.clear()

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_state(self) -> list[dict[str, Any]]:
        """Each export, waiting or ready (with its archive), and the segment as it was asked for."""
        with self._lock:
            jobs = list(self._jobs.values())
        return detached([{"object_prefix": j.object_prefix,
                          "segment": {"segment_id": j.segment.segment_id, "name": j.segment.name,
                                      "filter": j.segment.filter, "created_at": j.segment.created_at},
                          "fields": j.fields, "custom_attributes": j.custom_attributes, "callback": j.callback,
                          "url": j.url, "prepare_at": j.prepare_at, "archive": j.archive, "expires_at": j.expires_at}
                         for j in jobs])

    def stage_state(self, state: Any) -> tuple[Swap, Callable[[], None]]:
        """(swap, start): `start` schedules each export's next step (making it, or its expiry) again."""
        jobs: dict[str, _Job] = {}
        for i, data in enumerate(expect(state, list, "segment_exports")):
            where = f"segment_exports[{i}]"
            record(data, where, ("object_prefix", "segment", "fields", "custom_attributes", "callback", "url",
                                 "prepare_at", "archive", "expires_at"))
            seg = record(data["segment"], f"{where}.segment", ("segment_id", "name", "filter", "created_at"))
            try:
                segment = Segment(seg["segment_id"], seg["name"], seg["filter"], compile_filter(seg["filter"]),
                                  seg["created_at"])
            except SegmentError as exc:
                raise StateError(f"{where}.segment.filter", str(exc)) from None
            archive = expect(data["archive"], (bytes, type(None)), f"{where}.archive")
            expires_at = moment(data["expires_at"], f"{where}.expires_at", optional=True)
            if (archive is None) != (expires_at is None):
                raise StateError(where, "an archive and its expiry go together")
            job = _Job(expect(data["object_prefix"], str, f"{where}.object_prefix"), segment,
                       frozenset(expect(data["fields"], frozenset, f"{where}.fields")),
                       frozenset(expect(data["custom_attributes"], frozenset, f"{where}.custom_attributes")),
                       expect(data["callback"], (str, type(None)), f"{where}.callback"),
                       expect(data["url"], str, f"{where}.url"),
                       moment(data["prepare_at"], f"{where}.prepare_at"), archive, expires_at)
            jobs[job.object_prefix] = job

        def swap() -> None:
            with self._lock:
                self._jobs = jobs

        def start() -> None:
            for job in jobs.values():
                if job.archive is None:
                    self.tasks.at(job.prepare_at, self._prepare, job.object_prefix, name="braze.segment_export")
                else:
                    self.tasks.at(job.expires_at, self._expire, job.object_prefix,
                                  name="braze.segment_export.expire")
        return swap, start
