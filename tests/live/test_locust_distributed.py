"""A distributed Locust run: a master and two workers on this machine, against live services, at a small scale.

Why: a team whose load does not fit one Locust process runs Locust's own distributed mode (docs/scaling.md). The
locustfile does its journal following and its reconciliation on the master only, and the workers carry the users;
this checks that such a run ends as a local one does (exit code 0, the reconciliation OK: nothing lost, nothing
doubled) and that both workers really made requests (the master's per-worker tally of their reports, summing to
the requests in the stats).
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import free_port, stop_all
from tests.live.test_locust import RECONCILED, row, running_stack, seed_feeds

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
LOCUST = Path(sys.executable).with_name("locust")
WORKERS = 2
RUN_SECONDS = 12
WORKER_LINE = re.compile(r"^worker (\d+) \((\S+)\): (\d+) requests, at most (\d+) users$", re.M)


@pytest.fixture
def stack(tmp_path):
    with running_stack(tmp_path / "outbox.db") as urls:
        yield urls


def run_distributed(urls: dict[str, str], tmp_path: Path) -> tuple[int, str, list[int], str, list[dict]]:
    """A headless master expecting two workers, and the two workers: (the master's exit code, its output, the
    workers' exit codes, their output, its stats CSV rows). Every process is stopped on the way out, whatever
    happens."""
    port = free_port()
    prefix = tmp_path / "run"
    master_log, worker_logs = tmp_path / "master.log", [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
    locustfile = str(ROOT / "locustfile.py")
    master_cmd = [str(LOCUST), "-f", locustfile, "--headless", "--master", "--master-bind-host", "127.0.0.1",
                  "--master-bind-port", str(port), "--expect-workers", str(WORKERS), "--expect-workers-max-wait", "20",
                  "-u", "4", "-r", "4", "-t", f"{RUN_SECONDS}s", "--only-summary", "--csv", str(prefix),
                  "--braze-host", urls["braze"], "--sendbird-host", urls["sendbird"], "--bridge-host", urls["bridge"]]
    worker_cmd = [str(LOCUST), "-f", locustfile, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    processes: list[subprocess.Popen] = []
    try:
        with master_log.open("w") as out:
            processes.append(subprocess.Popen(master_cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))
        for log in worker_logs:
            with log.open("w") as out:
                processes.append(subprocess.Popen(worker_cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))
        master, workers = processes[0], processes[1:]
        code = master.wait(timeout=RUN_SECONDS + 45)  # the run, the drain (20 s at most), start and stop
        worker_codes = [worker.wait(timeout=15) for worker in workers]  # the master tells them to quit
    finally:
        stop_all(processes)  # only those still running: SIGTERM, then SIGKILL after 3 s
    output = master_log.read_text()
    workers_output = "".join(f"--- worker {i}\n{log.read_text()}" for i, log in enumerate(worker_logs))
    with open(f"{prefix}_stats.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    return code, output, worker_codes, workers_output, rows


def test_a_master_and_two_workers_run_clean_and_both_workers_carry_load(stack, tmp_path):
    seed_feeds(stack)  # devices have notifications to read, so READs flow too
    code, output, worker_codes, workers_output, rows = run_distributed(stack, tmp_path)

    assert code == 0, output
    assert worker_codes == [0] * WORKERS, workers_output
    assert "2 workers connected" in output, output
    reconciled = RECONCILED.search(output)
    assert reconciled is not None, output
    assert reconciled.group(2, 3, 4) == ("0", "0", "OK"), reconciled.group(0)
    assert int(reconciled.group(1)) > 0, reconciled.group(0)

    assert all(r["Failure Count"] == "0" for r in rows), rows
    sent = row(rows, "E2E", "accept->SENT")
    assert sent is not None and int(sent["Request Count"]) == int(reconciled.group(1)), output  # each has its SENT
    http = [r for r in rows if r["Type"] not in ("", "E2E")]
    assert {r["Name"] for r in http} >= {"/braze/notifications/realtime", "/braze/notifications/batch",
                                         "/campaigns/trigger/send", "/v3/group_channels/[channel]/messages"}, rows

    shares = WORKER_LINE.findall(output)
    assert sorted(int(index) for index, *_ in shares) == list(range(WORKERS)), output
    assert len({client for _, client, _, _ in shares}) == WORKERS, output
    assert all(int(requests_) > 0 and int(users) > 0 for _, _, requests_, users in shares), output
    # every HTTP request in the stats came from one of the two workers (the master itself runs no users)
    assert sum(int(requests_) for _, _, requests_, _ in shares) >= sum(int(r["Request Count"]) for r in http), output
