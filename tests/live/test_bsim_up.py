"""`bsim up` as a user starts it: seeded services on the given ports, the CLI commands against them,
and a clean stop on Ctrl-C."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner
from rich.console import Console

from harness.processes import free_port, wait_for
from simulator.cli import cli
from simulator.tail import follow

pytestmark = pytest.mark.live


@pytest.fixture
def up(tmp_path):
    ports = {name: free_port() for name in ("braze", "sendbird", "bridge")}
    log = (tmp_path / "up.log").open("w")  # a file, not a pipe nobody reads until the end (it would fill)
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "up", "--speed", "120",
                             "--braze-port", str(ports["braze"]), "--sendbird-port", str(ports["sendbird"]),
                             "--bridge-port", str(ports["bridge"]), "--db", str(tmp_path / "o.sqlite3")],
                            stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ})
    proc.log_path = tmp_path / "up.log"
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

    def seeded() -> bool:  # the campaign is the last thing seeded; then the devices connect
        return (requests.get(urls["braze"] + "/_admin/campaigns/welcome", timeout=2).status_code == 200
                and requests.get(urls["sendbird"] + "/_admin/stats", timeout=2).json()["delivery_subscribers"] > 0)

    assert wait_for(seeded, 60), "bsim up did not come up seeded"
    yield urls, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_up_seeds_runs_the_cli_and_stops_cleanly(up, tmp_path):
    urls, proc = up
    runner = CliRunner()
    result = runner.invoke(cli, ["trigger", "campaign", "welcome", "--braze-url", urls["braze"]])
    assert result.exit_code == 0, result.output

    def sent_events() -> int:
        page = requests.get(urls["braze"] + "/_admin/journal", params={"kind": "event.recorded", "limit": 10000},
                            timeout=5).json()
        return sum(1 for r in page["records"] if r.get("properties", {}).get("status") == "SENT")

    assert wait_for(lambda: sent_events() == 60, 30), "the welcome campaign did not reach Sendbird and back"
    # the devices of `bsim up` read some of them (median read delay 20 min at 120x is 10 s)
    assert wait_for(lambda: requests.get(urls["sendbird"] + "/_admin/journal", params={"kind": "message.read"},
                                         timeout=5).json()["records"], 60)
    out = io.StringIO()
    follow(Console(file=out, width=200), [urls["braze"]], {"event.recorded"}, None, interval=0.1, iterations=1)
    csv = tmp_path / "users.csv"
    csv.write_text("external_id,first_name,plan\nnew-1,Ann,pro\nnew-2,Bo\n")
    result = runner.invoke(cli, ["users", "import", str(csv), "--braze-url", urls["braze"]])
    assert result.exit_code == 1 and "line 3" in result.output  # the short row is dropped and reported
    assert requests.get(urls["braze"] + "/_admin/users/new-1", timeout=5).json()["custom_attributes"] == {"plan": "pro"}
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    output = proc.log_path.read_text()
    assert proc.returncode == 0, output
    assert "stopped." in output and "bsim up" in output
    for url in urls.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/_admin/health", timeout=2)
