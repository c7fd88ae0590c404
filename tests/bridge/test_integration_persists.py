"""The bridge's integration settings (`PUT /_admin/integration`) are kept in its outbox db, so a bridge
restarted on the same db file keeps them (docs/bridge.md); a new db starts from the flags."""

from __future__ import annotations

import subprocess
import sys

from bridge.app import create_app
from bridge.outbox import Outbox
from bridge.service import INTEGRATION_SETTING
from harness.processes import free_port
from harness.runtime import Runtime


def bridge_on(db, **flags):
    runtime = Runtime.simulation(seed=1)
    app = create_app(runtime, db=str(db), **flags)
    return app, runtime


def close(app, runtime) -> None:
    app.extensions["bridge"].outbox.close()
    runtime.close()


def test_settings_put_over_http_survive_a_restart_on_the_same_db(tmp_path):
    db = tmp_path / "bridge.sqlite3"
    app, runtime = bridge_on(db)
    changed = app.test_client().put("/_admin/integration", json={
        "event_callback": False, "braze_rest_endpoint": "http://127.0.0.1:7999", "braze_rest_api_key": "k2"})
    assert changed.status_code == 200, changed.get_json()
    before = app.test_client().get("/_admin/integration").get_json()
    close(app, runtime)

    again, runtime2 = bridge_on(db)  # the flags' defaults: the stored settings win
    try:
        assert again.test_client().get("/_admin/integration").get_json() == before
        assert again.test_client().get("/_admin/secrets").get_json()["braze_rest_api_key"] == "k2"
        assert again.extensions["bridge"].integration.event_callback is False
    finally:
        close(again, runtime2)


def test_a_reset_keeps_the_stored_settings(tmp_path):
    db = tmp_path / "bridge.sqlite3"
    app, runtime = bridge_on(db)
    assert app.test_client().put("/_admin/integration", json={"event_callback": False}).status_code == 200
    assert app.test_client().post("/_admin/reset").status_code == 200
    close(app, runtime)
    again, runtime2 = bridge_on(db)
    try:
        assert again.extensions["bridge"].integration.event_callback is False
    finally:
        close(again, runtime2)


def test_a_new_db_starts_from_the_flags(tmp_path):
    app, runtime = bridge_on(tmp_path / "a.sqlite3", event_callback=False, braze_key="flag-key")
    try:
        integration = app.extensions["bridge"].integration
        assert (integration.event_callback, integration.braze_rest_api_key) == (False, "flag-key")
    finally:
        close(app, runtime)


def test_a_refused_put_stores_nothing(tmp_path):
    db = tmp_path / "bridge.sqlite3"
    app, runtime = bridge_on(db)
    assert app.test_client().put("/_admin/integration", json={"braze_rest_endpoint": "ftp://x"}).status_code == 400
    assert app.extensions["bridge"].outbox.setting(INTEGRATION_SETTING) is None
    close(app, runtime)


def test_a_stored_endpoint_the_policy_refuses_stops_the_start_with_one_line(tmp_path):
    """A live bridge calls loopback only unless told: a stored endpoint elsewhere is named, not called."""
    db = tmp_path / "bridge.sqlite3"
    outbox = Outbox(db)
    outbox.store_setting(INTEGRATION_SETTING, {"event_callback": True, "braze_rest_endpoint": "http://example.com",
                                               "braze_rest_api_key": "k"})
    outbox.close()
    done = subprocess.run([sys.executable, "-m", "bridge", "--port", str(free_port()), "--db", str(db)],
                          capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert f"the Braze endpoint stored in {db}" in lines[0] and "example.com" in lines[0], lines
