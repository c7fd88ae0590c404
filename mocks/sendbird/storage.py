"""Targets files for batch sends of up to 100,000 users (the presigned-upload flow).

Sendbird hands out a presigned S3 POST; the fake hands out a URL of its own that takes the same
multipart form, so a client written against the real flow works unchanged.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from dataclasses import dataclass

from mocks.sendbird import errors
from mocks.sendbird.errors import SendbirdError, invalid, not_found
from mocks.sendbird.models import MAX_USER_ID

MAX_FILE_TARGETS = 100_000
UPLOAD_PATH = "/_storage/targets_files"


@dataclass
class TargetsFile:
    file_key: str
    policy: str
    targets: list[str] | None = None  # None until uploaded


class TargetsFileStore:
    def __init__(self, api_token: str) -> None:
        self._secret = api_token
        self._files: dict[str, TargetsFile] = {}
        self._lock = threading.Lock()

    def presign(self, file_key: str, overwrite: bool, base_url: str) -> dict:
        if not file_key or len(file_key) > 200:
            raise invalid('"file_key" must be 1 to 200 characters.')
        with self._lock:
            if file_key in self._files and not overwrite:
                raise SendbirdError(errors.ALREADY_EXISTS, f'Targets file "{file_key}" already exists.')
            policy = hashlib.sha256(f"{self._secret}:{file_key}".encode()).hexdigest()
            self._files[file_key] = TargetsFile(file_key, policy)
        return {"url": base_url.rstrip("/") + UPLOAD_PATH, "file_key": file_key,
                "fields": {"key": file_key, "policy": policy, "Content-Type": "text/csv"}}

    def upload(self, file_key: str | None, policy: str | None, content: bytes) -> int:
        with self._lock:
            entry = self._files.get(file_key or "")
            if entry is None or policy != entry.policy:
                raise SendbirdError(errors.INVALID_VALUE, "Invalid or expired upload policy.", status=403)
        targets = parse_targets_csv(content)
        with self._lock:
            entry.targets = targets
        return len(targets)

    def targets(self, file_key: str) -> list[str]:
        entry = self._files.get(file_key)
        if entry is None or entry.targets is None:
            raise not_found(f"targets file {file_key}")
        return entry.targets

    def export(self) -> dict[str, TargetsFile]:
        with self._lock:
            return {key: TargetsFile(f.file_key, f.policy, None if f.targets is None else list(f.targets))
                    for key, f in self._files.items()}

    @staticmethod
    def build(state: dict[str, TargetsFile]) -> dict[str, TargetsFile]:
        if not all(isinstance(f, TargetsFile) for f in state.values()):
            raise ValueError("a targets file is not a targets file")
        return dict(state)

    def replace(self, files: dict[str, TargetsFile]) -> None:
        with self._lock:
            self._files = files

    def clear(self) -> None:
        with self._lock:
            self._files.clear()


def parse_targets_csv(content: bytes) -> list[str]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid("The targets file must be UTF-8 CSV.") from None
    targets: list[str] = []
    for line_no, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not row[0].strip():
            continue
        user_id = row[0].strip()
        if line_no == 1 and user_id == "user_id":
            continue
        if len(user_id) > MAX_USER_ID:
            raise SendbirdError(errors.TOO_LONG, f"User id on line {line_no} is longer than {MAX_USER_ID}.")
        targets.append(user_id)
        if len(targets) > MAX_FILE_TARGETS:
            raise invalid(f"A targets file holds at most {MAX_FILE_TARGETS} user ids.")
    if not targets:
        raise invalid("The targets file has no user ids.")
    return targets
