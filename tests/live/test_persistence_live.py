"""`--persist DIR` and `--state FILE` on the live fakes (docs/persistence.md): a SIGTERM saves a clean snapshot
(the journal's epoch and records come back), a kill -9 loses only what came after the last periodic save (the
records come back under a new epoch), and a bad file stops the start with one line."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from harness.processes import free_port, start_service, wait_for

TOKEN = "local-sendbird-token"
AUTH = {"Api-Token": TOKEN}
TEMPLATE = {"key": "welcome", "name": "Welcome", "ui_template": {"version": 1, "body": {"items": [
    {"type": "text", "text": "Hello {name}"}]}}, "variable_schema": [{"key": "name", "type": "string"}]}


def start_sendbird(directory: Path, *extra: str, log: Path | None = None):
    return start_service("sendbird", "mocks.sendbird", free_port(),
                         ("--ws-port", str(free_port()), "--persist", str(directory), *extra), log=log)


def header(path: Path) -> dict:
    return json.loads(path.read_bytes().split(b"\n", 1)[0])


def health(service) -> dict:
    return requests.get(f"{service.url}/_admin/health", timeout=5).json()


def build(service) -> None:
    assert requests.post(f"{service.url}/v1/templates", json=TEMPLATE, headers=AUTH, timeout=5).status_code == 200
    sent = requests.post(f"{service.url}/v1/notifications", headers=AUTH, timeout=5,
                         json={"template": {"key": "welcome", "variables": {"u1": {"name": "Una"}}},
                               "targets": ["u1"], "mode": "realtime"})
    assert sent.status_code == 200


def records(service) -> list[dict]:
    return requests.get(f"{service.url}/_admin/journal?limit=10000", timeout=5).json()["records"]


def test_a_sigterm_saves_a_clean_world_that_comes_back_with_its_journal(tmp_path):
    service = start_sendbird(tmp_path)
    try:
        build(service)
        before, epoch = records(service), health(service)["journal_epoch"]
    finally:
        assert service.stop() == 0
    assert header(tmp_path / "sendbird.snapshot")["clean"] is True
    again = start_sendbird(tmp_path)
    try:
        assert health(again)["journal_epoch"] == epoch, "a clean snapshot keeps the journal's life"
        assert records(again)[:len(before)] == before
        assert requests.get(f"{again.url}/v1/templates/welcome", headers=AUTH, timeout=5).status_code == 200
        # once loaded, the file on disk is an unclean one again (a crash now must not claim the same life)
        assert header(tmp_path / "sendbird.snapshot")["clean"] is False
    finally:
        again.stop()


def test_a_kill_9_comes_back_from_the_last_periodic_save_under_a_new_epoch(tmp_path):
    service = start_sendbird(tmp_path, "--persist-interval", "0.2")
    try:
        build(service)
        before, epoch = records(service), health(service)["journal_epoch"]
        seq = before[-1]["seq"]

        def saved_it() -> bool:
            from harness.snapshots import read_file
            journal = read_file(tmp_path / "sendbird.snapshot", "sendbird").state["journal"]
            return journal["last_seq"] >= seq

        assert wait_for(saved_it, 10)
    finally:
        service.process.kill()
        service.process.wait()
    again = start_sendbird(tmp_path)
    try:
        assert health(again)["journal_epoch"] != epoch, "after a crash the journal is a new life"
        assert [r["seq"] for r in records(again)][:len(before)] == [r["seq"] for r in before]
        sent = requests.post(f"{again.url}/v1/notifications", headers=AUTH, timeout=5,
                             json={"template": {"key": "welcome"}, "targets": ["u2"], "mode": "realtime"})
        assert sent.status_code == 200, sent.text
    finally:
        again.stop()


def test_state_flag_loads_a_snapshot_taken_over_http(tmp_path):
    service = start_service("sendbird", "mocks.sendbird", free_port(), ("--ws-port", str(free_port())))
    try:
        build(service)
        path = tmp_path / "world.snapshot"
        answer = requests.post(f"{service.url}/_admin/snapshot", json={"path": str(path)}, timeout=10)
        assert answer.status_code == 200 and answer.json()["path"] == str(path)
    finally:
        service.stop()
    again = start_service("sendbird", "mocks.sendbird", free_port(),
                          ("--ws-port", str(free_port()), "--state", str(path)))
    try:
        assert requests.get(f"{again.url}/v1/templates/welcome", headers=AUTH, timeout=5).status_code == 200
    finally:
        again.stop()


@pytest.mark.parametrize("content, words", [(b"not a snapshot", "is not a bsim snapshot"),
                                            (None, "cannot read")])
def test_a_bad_state_file_stops_the_start_with_one_line(tmp_path, content, words):
    path = tmp_path / "bad.snapshot"
    if content is not None:
        path.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "mocks.sendbird", "--port", str(free_port()), "--ws-port",
                           str(free_port()), "--state", str(path)], capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1 and words in lines[0], done.stderr
    assert lines[0].startswith("python -m mocks.sendbird: ")


def test_the_fake_braze_keeps_its_world_across_a_sigterm(tmp_path):
    service = start_service("braze", "mocks.braze", free_port(), ("--persist", str(tmp_path)))
    try:
        before = requests.get(f"{service.url}/_admin/health", timeout=5).json()
    finally:
        assert service.stop() == 0
    assert header(tmp_path / "braze.snapshot")["clean"] is True
    again = start_service("braze", "mocks.braze", free_port(), ("--persist", str(tmp_path)))
    try:
        assert requests.get(f"{again.url}/_admin/health", timeout=5).json()["journal_epoch"] == before["journal_epoch"]
    finally:
        again.stop()


def test_every_send_answered_before_a_sigterm_is_in_the_world_after_the_restart(tmp_path):
    """Sends keep coming while the service stops: each one answered 200 must come back, with its own id (a save
    taken while sends were still being answered lost them, and the restarted fake handed their ids out again);
    the ones the stopping server cut never took effect, so a caller is right to send them again."""
    service = start_sendbird(tmp_path)
    build(service)
    answered: dict[str, str] = {}
    cut = 0

    def send(user: str) -> None:
        nonlocal cut
        try:
            sent = requests.post(f"{service.url}/v1/notifications", headers=AUTH, timeout=10, json={
                "template": {"key": "welcome", "variables": {user: {"name": user}}}, "targets": [user],
                "mode": "realtime"})
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            cut += 1
            return
        if sent.status_code == 200:
            answered[sent.json()["notification_id"]] = user

    senders = [threading.Thread(target=lambda n=n: [send(f"u{n}-{i}") for i in range(400)]) for n in range(4)]
    for sender in senders:
        sender.start()
    assert wait_for(lambda: len(answered) > 50, 10)
    assert service.stop() == 0
    for sender in senders:
        sender.join(30)
    assert cut > 0 and answered, "the stop came while sends were under way"
    again = start_sendbird(tmp_path)
    try:
        for notification_id, user in answered.items():
            found = requests.get(f"{again.url}/v1/notifications/{notification_id}", headers=AUTH, timeout=5)
            assert found.status_code == 200, f"{notification_id} (to {user}) was answered 200 and is gone"
        fresh = requests.post(f"{again.url}/v1/notifications", headers=AUTH, timeout=5, json={
            "template": {"key": "welcome", "variables": {"late": {"name": "Late"}}}, "targets": ["late"],
            "mode": "realtime"}).json()["notification_id"]
        assert fresh not in answered, "an id handed out before the stop is not handed out again"
    finally:
        again.stop()
