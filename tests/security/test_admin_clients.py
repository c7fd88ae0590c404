"""Every harness client of `/_admin` sends the admin token when one is configured (docs/security.md, "The admin
surface"): `bsim up` started with one comes up seeded, its devices on Sendbird's delivery stream (its seeding, its
health checks and the device service all made admin calls), and `bsim users import`, `bsim tail`, `bsim fault`,
`bsim run --live` and Locust work against it, while a request without the token is refused."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from rich.console import Console

from harness.admin_client import AdminTokenAuth, send_admin_token
from harness.processes import free_port, wait_for
from simulator.cli import cli
from simulator.tail import Tail
from tests.live.test_bsim_live import short_demo

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "stack-admin-token-42"
HEADER = {"X-Admin-Token": TOKEN}
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.endswith("ADMIN_TOKEN")}
RECONCILED = re.compile(r"^reconciliation: accepted=(\d+) .*duplicates=(\d+) losses=(\d+) -> (\w+)$", re.M)


@pytest.fixture(scope="module")
def up(tmp_path_factory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("up")
    ports = {name: free_port() for name in ("braze", "sendbird", "bridge")}
    log = (tmp / "up.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "up", "--speed", "120", "--admin-token", TOKEN,
                             "--braze-port", str(ports["braze"]), "--sendbird-port", str(ports["sendbird"]),
                             "--sendbird-ws-port", str(free_port()),
                             "--bridge-port", str(ports["bridge"]), "--console-port", str(free_port()),
                             "--db", str(tmp / "o.sqlite3"),
                             "--log-dir", str(tmp / "logs")], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**CLEAN_ENV, "COLUMNS": "200"})
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

    def seeded() -> bool:
        return (requests.get(urls["braze"] + "/_admin/campaigns/welcome", headers=HEADER, timeout=2).status_code == 200
                and requests.get(urls["sendbird"] + "/_admin/stats", headers=HEADER,
                                 timeout=2).json()["delivery_subscribers"] > 0)

    try:
        assert wait_for(seeded, 90), (tmp / "up.log").read_text()
        assert wait_for(lambda: "X-Admin-Token" in (tmp / "up.log").read_text(), 10)
        urls["log"] = str(tmp / "up.log")
        yield urls
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_bsim_up_requires_the_token_it_was_given_and_prints_it(up):
    for name in ("braze", "sendbird", "bridge"):
        refused = requests.get(up[name] + "/_admin/health", timeout=5)
        assert refused.status_code == 401 and "X-Admin-Token is required" in refused.json()["message"], name
        assert requests.get(up[name] + "/_admin/health", headers=HEADER, timeout=5).status_code == 200
    assert f"X-Admin-Token: {TOKEN}" in Path(up["log"]).read_text()


def test_bsim_users_import_sends_csv_and_the_token(up, tmp_path):
    csv = tmp_path / "users.csv"
    csv.write_text("external_id,first_name\nimported-1,Ann\n")
    runner = CliRunner(env={"BSIM_ADMIN_TOKEN": None})
    refused = runner.invoke(cli, ["users", "import", str(csv), "--braze-url", up["braze"]])
    assert refused.exit_code == 1 and "X-Admin-Token is required" in refused.output, refused.output
    done = runner.invoke(cli, ["users", "import", str(csv), "--braze-url", up["braze"], "--admin-token", TOKEN])
    assert done.exit_code == 0, done.output
    done = CliRunner(env={"BSIM_ADMIN_TOKEN": TOKEN}).invoke(cli, ["users", "import", str(csv), "--braze-url",
                                                                   up["braze"]])
    assert done.exit_code == 0, done.output
    assert requests.get(up["braze"] + "/_admin/users/imported-1", headers=HEADER, timeout=5).status_code == 200


def test_bsim_tail_sends_the_token(up):
    out = io.StringIO()
    tail = Tail(Console(file=out, width=200), [up["braze"]], {"event.recorded"}, None, admin_token=TOKEN)
    tail.poll()  # it starts at the end of the journal
    event = {"external_id": "demo-1", "name": "tailed", "time": "2026-01-01T00:00:00Z"}
    tracked = requests.post(up["braze"] + "/users/track", headers={"Authorization": "Bearer local-braze-key"},
                            json={"events": [event]}, timeout=5)
    assert tracked.status_code == 201, tracked.text
    tail.poll()
    assert "event.recorded" in out.getvalue() and "demo-1" in out.getvalue()


def test_bsim_fault_sends_the_token_and_says_in_one_line_when_it_is_missing(up):
    args = ["fault", "add", "bridge", "--path", "/nowhere", "--status", "503", "--bridge-url", up["bridge"]]
    refused = CliRunner(env={"BSIM_ADMIN_TOKEN": None}).invoke(cli, args)
    assert refused.exit_code == 1 and refused.output.count("\n") == 1
    assert refused.output.startswith("bridge answered HTTP 401: ")
    added = CliRunner(env={"BSIM_ADMIN_TOKEN": TOKEN}).invoke(cli, args)
    assert added.exit_code == 0 and added.output.startswith("fault-")
    cleared = CliRunner().invoke(cli, ["fault", "clear", "bridge", "--id", added.output.strip(), "--admin-token",
                                       TOKEN, "--bridge-url", up["bridge"]])
    assert cleared.exit_code == 0, cleared.output


def test_bsim_run_live_sends_the_token(up, tmp_path):
    result = CliRunner(env={"BSIM_ADMIN_TOKEN": TOKEN}).invoke(cli, [
        "run", str(short_demo(tmp_path, 5)), "--live", "--speed", "120", "--braze-url", up["braze"],
        "--sendbird-url", up["sendbird"], "--bridge-url", up["bridge"]], catch_exceptions=False)
    assert result.exit_code in (0, 1) and "run failed" not in result.output, result.output  # 3: refused


def test_locust_sends_the_token(up, tmp_path):
    locust = Path(sys.executable).with_name("locust")
    done = subprocess.run([str(locust), "-f", str(ROOT / "locustfile.py"), "--headless", "-u", "2", "-r", "2",
                           "-t", "3s", "--only-summary", "--braze-host", up["braze"], "--sendbird-host",
                           up["sendbird"], "--bridge-host", up["bridge"], "--admin-token", TOKEN,
                           "RealtimeWebhookUser"], cwd=ROOT, capture_output=True, text=True, timeout=90, env=CLEAN_ENV)
    output = done.stdout + done.stderr
    match = RECONCILED.search(output)
    assert match and match.group(4) == "OK" and done.returncode == 0, output[-2000:]


def test_the_token_rides_on_admin_paths_only():
    session = send_admin_token(requests.Session(), TOKEN)
    assert isinstance(session.auth, AdminTokenAuth)
    admin = session.prepare_request(requests.Request("GET", "http://127.0.0.1:7100/_admin/health"))
    product = session.prepare_request(requests.Request("POST", "http://127.0.0.1:7100/users/track", json={}))
    lookalike = session.prepare_request(requests.Request("GET", "http://127.0.0.1:7100/_adminx"))
    assert admin.headers["X-Admin-Token"] == TOKEN
    assert "X-Admin-Token" not in product.headers and "X-Admin-Token" not in lookalike.headers
