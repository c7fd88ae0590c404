"""The fake Braze's snapshots (docs/persistence.md) through its admin API: the world saved by `POST /_admin/snapshot`
comes back in another process's fake, and a file of another service is refused."""

from __future__ import annotations

import pytest

from .braze_fixtures import BrazeEnv


def test_a_sendbird_snapshot_is_refused_by_braze(braze):
    from harness.runtime import Runtime
    from harness.snapshots import SnapshotError
    from mocks.sendbird.app import create_app

    sendbird = create_app(Runtime.simulation())
    data = sendbird.test_client().post("/_admin/snapshot").data
    before = braze.client.get("/_admin/health").get_json()
    with pytest.raises(SnapshotError, match="not of 'braze'"):
        braze.app.extensions["snapshots"].restore(data)
    assert braze.client.get("/_admin/health").get_json()["users"] == before["users"]


def test_a_braze_world_round_trips_and_its_seed_comes_back_after_a_reset(braze):
    assert braze.post("/users/track", {"attributes": [{"external_id": "u1", "first_name": "Una"}]}).status_code == 201
    before = braze.client.get("/_admin/health").get_json()
    data = braze.client.post("/_admin/snapshot").data
    other = BrazeEnv()
    try:
        other.app.extensions["snapshots"].restore(data)
        after = other.client.get("/_admin/health").get_json()
        assert {k: v for k, v in after.items() if k not in ("journal_epoch", "journal_cursor", "time")} == \
            {k: v for k, v in before.items() if k not in ("journal_epoch", "journal_cursor", "time")}
        assert other.client.post("/_admin/snapshot", json={"seed": True}).status_code == 200
        assert other.post("/users/track", {"attributes": [{"external_id": "u2"}]}).status_code == 201
        assert other.client.post("/_admin/reset", json={"to": "seed"}).status_code == 200
        assert other.client.get("/_admin/health").get_json()["users"] == before["users"]
    finally:
        other.close()
