"""The fake Braze's snapshots (docs/persistence.md) go through `BrazeService.snapshot_state()` and
`restore_state(state)`, the only two names the harness calls; until they exist a snapshot is a Braze 400."""

from __future__ import annotations

import pytest

from mocks.braze.service import BrazeService

from .braze_fixtures import BrazeEnv

HAS_STATE = hasattr(BrazeService, "snapshot_state") and hasattr(BrazeService, "restore_state")


@pytest.mark.skipif(HAS_STATE, reason="BrazeService can save its state")
def test_without_the_state_methods_a_snapshot_is_a_clear_braze_400(braze):
    resp = braze.client.post("/_admin/snapshot")
    assert resp.status_code == 400
    assert "snapshot_state" in resp.get_json()["message"]
    seeded = braze.client.post("/_admin/snapshot", json={"seed": True})
    assert seeded.status_code == 400


def test_the_keeper_calls_exactly_the_two_methods(braze, monkeypatch):
    """With any snapshot_state/restore_state pair, the world goes out and comes back through them."""
    held = {"profiles": ["u1", "u2"]}
    restored = []
    monkeypatch.setattr(BrazeService, "snapshot_state", lambda self: held, raising=False)
    monkeypatch.setattr(BrazeService, "restore_state", lambda self, state: restored.append(state), raising=False)
    data = braze.client.post("/_admin/snapshot").data
    other = BrazeEnv()
    try:
        other.app.extensions["snapshots"].restore(data)
        assert restored == [held]
        assert other.client.post("/_admin/snapshot", json={"seed": True}).status_code == 200
        assert other.client.post("/_admin/reset", json={"to": "seed"}).status_code == 200
        assert restored == [held, held]
    finally:
        other.close()


def test_a_sendbird_snapshot_is_refused_by_braze(braze, monkeypatch):
    from harness.runtime import Runtime
    from harness.snapshots import SnapshotError
    from mocks.sendbird.app import create_app

    monkeypatch.setattr(BrazeService, "restore_state", lambda self, state: None, raising=False)
    sendbird = create_app(Runtime.simulation())
    data = sendbird.test_client().post("/_admin/snapshot").data
    with pytest.raises(SnapshotError, match="not of 'braze'"):
        braze.app.extensions["snapshots"].restore(data)


@pytest.mark.skipif(not HAS_STATE, reason="BrazeService.snapshot_state/restore_state come with the braze-state branch")
def test_a_braze_world_round_trips(braze):
    assert braze.post("/users/track", {"attributes": [{"external_id": "u1", "first_name": "Una"}]}).status_code == 201
    before = braze.client.get("/_admin/health").get_json()
    data = braze.client.post("/_admin/snapshot").data
    other = BrazeEnv()
    try:
        other.app.extensions["snapshots"].restore(data)
        after = other.client.get("/_admin/health").get_json()
        assert {k: v for k, v in after.items() if k not in ("journal_epoch", "journal_cursor", "time")} == \
            {k: v for k, v in before.items() if k not in ("journal_epoch", "journal_cursor", "time")}
    finally:
        other.close()
