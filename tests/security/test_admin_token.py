"""The admin token (docs/security.md, "The admin surface"): when a service has one, every admin request must carry
it in `X-Admin-Token`; a service bound beyond loopback refuses to start without one. In-process on every admin
route of the three services, and live: real servers on ephemeral ports, one bound to 0.0.0.0 (contacted over
loopback only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bridge.app import create_app as create_bridge
from harness.admin_guard import AdminPolicy
from harness.processes import ServiceProcess, free_port, start_service
from harness.runtime import Runtime
from mocks.braze.app import create_app as create_braze
from mocks.sendbird.app import create_app as create_sendbird
from tests.admin.fuzzing import admin_routes, first_chunk
from tests.admin.services import braze_error, sendbird_error

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t0ken-for-the-admin-api"
HEADER = "X-Admin-Token"
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.endswith("ADMIN_TOKEN")}


def _apps(policy: AdminPolicy):
    runtime = Runtime.simulation(seed=1)
    yield "braze", create_braze(runtime, admin=policy), braze_error
    yield "sendbird", create_sendbird(runtime, admin=policy), sendbird_error
    yield "bridge", create_bridge(runtime, db=":memory:", sendbird_url="http://sendbird.local",
                                  braze_url="http://braze.local", admin=policy), sendbird_error
    runtime.close()


def test_with_a_token_every_admin_route_requires_it_and_refuses_a_wrong_one():
    for name, app, is_error in _apps(AdminPolicy.parse(token=TOKEN)):
        client = app.test_client()
        for route in admin_routes(app):
            path = route.rule.replace("<", "").replace(">", "")
            for method in sorted(set(route.methods) - {"HEAD"}):
                for given, verdict in ((None, "is required"), ("wrong", "is not this service"),
                                       (TOKEN.upper(), "is not this service"), (TOKEN + " ", "is not this service")):
                    headers = {HEADER: given} if given is not None else {}
                    response = client.open(path, method=method, headers=headers, buffered=False)
                    data = first_chunk(response)
                    assert response.status_code == 401, (name, method, path, given, data[:200])
                    body = json.loads(data)
                    assert is_error(body) and verdict in body["message"], body
                    assert "--admin-token" in body["message"] and "BSIM_ADMIN_TOKEN" in body["message"]
            if "GET" in route.methods and not route.arguments:
                response = client.get(path, headers={HEADER: TOKEN}, buffered=False)
                first_chunk(response)
                assert response.status_code == 200, (name, path, response.status_code)


def test_the_token_is_checked_after_host_and_origin_so_a_page_learns_nothing_from_it():
    for _, app, _ in _apps(AdminPolicy.parse(token=TOKEN)):
        client = app.test_client()
        assert client.get("/_admin/health", headers={"Host": "evil.example", HEADER: TOKEN}).status_code == 403
        assert client.get("/_admin/health", headers={"Origin": "null", HEADER: TOKEN}).status_code == 403


def test_product_routes_never_ask_for_the_admin_token():
    for name, app, _ in _apps(AdminPolicy.parse(token=TOKEN)):
        if name == "braze":
            assert app.test_client().get("/segments/list", headers={
                "Authorization": "Bearer local-braze-key"}).status_code == 200
        if name == "bridge":
            assert app.test_client().get("/metrics").status_code == 200


# -- live ------------------------------------------------------------------------------------------------------

SERVICES = {"braze": ("mocks.braze", "BRAZE_"), "sendbird": ("mocks.sendbird", "SENDBIRD_"), "bridge": ("bridge",
                                                                                                      "BRIDGE_")}


def _run(module: str, *args: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    db = ["--db", str(tmp_path / "bridge.sqlite3")] if module == "bridge" else []
    try:
        return subprocess.run([sys.executable, "-m", module, "--port", str(free_port()), *db, *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, env={**CLEAN_ENV, **(env or {})})
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -m {module} {' '.join(args)} did not exit: it started serving")


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "lab.example"])
def test_a_service_bound_beyond_loopback_without_a_token_refuses_to_start_in_one_line(name, host, tmp_path):
    module, prefix = SERVICES[name]
    done = _run(module, "--host", host, tmp_path=tmp_path)
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    for word in (f"--host {host}", "/_admin", "--admin-token", f"{prefix}ADMIN_TOKEN", "BSIM_ADMIN_TOKEN"):
        assert word in line, line


@pytest.mark.parametrize(("args", "mentions"), [(("--allowed-host", "*"), "--allowed-host"),
                                                (("--console-origin", "null"), "--console-origin"),
                                                (("--admin-token", "two words"), "--admin-token")])
def test_admin_flags_that_cannot_be_read_stop_the_service_in_one_line(args, mentions, tmp_path):
    done = _run("mocks.sendbird", *args, tmp_path=tmp_path)
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("python -m mocks.sendbird: ") and mentions in line, line


@pytest.fixture
def started() -> Iterator[list[ServiceProcess]]:
    services: list[ServiceProcess] = []
    yield services
    for service in services:
        service.stop()


def _start(started: list[ServiceProcess], name: str, args: tuple[str, ...] = (), env: dict[str, str] | None = None,
           token: str | None = None, tmp_path: Path | None = None) -> ServiceProcess:
    module, _ = SERVICES[name]
    db = ("--db", str(tmp_path / "bridge.sqlite3")) if module == "bridge" else ()
    service = start_service(name, module, free_port(), (*db, *args), env=env, admin_token=token, startup_timeout=60)
    started.append(service)
    return service


def test_bound_to_0_0_0_0_with_a_token_a_service_serves_and_refuses_admin_requests_without_it(started, monkeypatch):
    for key in [k for k in os.environ if k.endswith("ADMIN_TOKEN")]:
        monkeypatch.delenv(key)
    braze = _start(started, "braze", ("--host", "0.0.0.0"), env={"BRAZE_ADMIN_TOKEN": TOKEN}, token=TOKEN)
    health = f"{braze.url}/_admin/health"
    refused = requests.get(health, timeout=10)
    assert refused.status_code == 401 and "X-Admin-Token is required" in refused.json()["message"]
    assert requests.get(health, headers={HEADER: "nope"}, timeout=10).status_code == 401
    assert requests.get(health, headers={HEADER: TOKEN}, timeout=10).json()["status"] == "ok"
    keys = requests.get(f"{braze.url}/_admin/api_keys", headers={HEADER: TOKEN, "Host": "rebind.evil.example"},
                        timeout=10)
    assert keys.status_code == 403  # the token does not make a rebound Host this service
    track = requests.post(f"{braze.url}/users/track", headers={"Authorization": "Bearer local-braze-key"},
                          json={"attributes": [{"external_id": "u1"}]}, timeout=10)
    assert track.status_code == 201  # the product needs its own key, not the admin token


def test_the_shared_token_configures_a_service_and_its_own_variable_wins(started, monkeypatch, tmp_path):
    for key in [k for k in os.environ if k.endswith("ADMIN_TOKEN")]:
        monkeypatch.delenv(key)
    sendbird = _start(started, "sendbird", env={"BSIM_ADMIN_TOKEN": TOKEN}, token=TOKEN)
    assert requests.get(f"{sendbird.url}/_admin/stats", timeout=10).status_code == 401
    assert requests.get(f"{sendbird.url}/_admin/stats", headers={HEADER: TOKEN}, timeout=10).status_code == 200
    bridge = _start(started, "bridge", env={"BSIM_ADMIN_TOKEN": "shared-one", "BRIDGE_ADMIN_TOKEN": TOKEN},
                    token=TOKEN, tmp_path=tmp_path)
    assert requests.get(f"{bridge.url}/_admin/outbox", headers={HEADER: "shared-one"}, timeout=10).status_code == 401
    assert requests.get(f"{bridge.url}/_admin/outbox", headers={HEADER: TOKEN}, timeout=10).status_code == 200


def test_allowed_hosts_are_answered_and_other_names_are_not(started, monkeypatch, tmp_path):
    for key in [k for k in os.environ if k.endswith("ADMIN_TOKEN")]:
        monkeypatch.delenv(key)
    bridge = _start(started, "bridge", ("--host", "0.0.0.0", "--allowed-host", "lab.example,10.9.8.7",
                                        "--admin-token", TOKEN), token=TOKEN, tmp_path=tmp_path)
    port = bridge.url.rsplit(":", 1)[1]
    for host in (f"lab.example:{port}", "LAB.EXAMPLE", f"10.9.8.7:{port}", f"127.0.0.1:{port}"):
        assert requests.get(f"{bridge.url}/_admin/health", headers={HEADER: TOKEN, "Host": host},
                            timeout=10).status_code == 200, host
    refused = requests.get(f"{bridge.url}/_admin/health", headers={HEADER: TOKEN, "Host": "other.example"}, timeout=10)
    assert refused.status_code == 403 and refused.json()["code"] == 403100
    assert "lab.example" in refused.json()["message"] and "BRIDGE_ALLOWED_HOST" in refused.json()["message"]
