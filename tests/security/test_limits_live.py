"""The body limit live, through granian and the gateway (docs/security.md, "Limits"): each service, started
with a small `--max-body-bytes` (or its environment variable), answers 413 in its product's format to a body
over it, with a length or chunked, and keeps serving."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from harness.processes import free_port, start_service
from tests.security.limits_apps import BRAZE_AUTH, BRIDGE_AUTH, JSON, SENDBIRD_AUTH

LIMIT = 10_000
SERVICES = {
    "braze": ("mocks.braze", "/users/track", BRAZE_AUTH, {"message"}),
    "sendbird": ("mocks.sendbird", "/v1/notifications", SENDBIRD_AUTH, {"error", "code", "message"}),
    "bridge": ("bridge", "/braze/notifications/realtime", BRIDGE_AUTH, {"error", "code", "message"}),
}


def chunks(total: int) -> Iterator[bytes]:
    for _ in range(0, total, 65536):
        yield b"x" * 65536


@pytest.mark.parametrize("name", SERVICES)
def test_a_live_service_refuses_a_body_over_its_limit(name, tmp_path):
    module, path, auth, keys = SERVICES[name]
    args = ["--db", str(tmp_path / "outbox.sqlite3")] if name == "bridge" else []
    env = {f"{name.upper()}_MAX_BODY_BYTES": str(LIMIT)} if name == "bridge" else {}
    if name != "bridge":
        args += ["--max-body-bytes", str(LIMIT)]
    service = start_service(name, module, free_port(), args, env=env, startup_timeout=60)
    try:
        headers = {**auth, **JSON}
        for body in (b"x" * (LIMIT + 1), b"x" * (20 * 1024 * 1024), chunks(20 * 1024 * 1024)):
            reply = requests.post(service.url + path, data=body, headers=headers, timeout=60)
            assert reply.status_code == 413, reply.text
            assert set(reply.json()) == keys and f"at most {LIMIT} bytes" in reply.json()["message"]
        within = requests.post(service.url + path, data=b"{}", headers=headers, timeout=60)
        assert within.status_code in (400, 201), within.text  # read and judged by the endpoint itself
        assert requests.get(service.url + "/_admin/health", timeout=30).status_code == 200
    finally:
        service.stop()
