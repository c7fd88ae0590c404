"""Snapshots of the fake Sendbird (docs/persistence.md): a world built through the public API, saved, and
loaded into a fresh app answers every public and admin read the same; a bad file is refused whole."""

from __future__ import annotations

import json
import pickle
import zlib
from fractions import Fraction
from typing import Any

import pytest

from harness.journal import parse_cursor
from harness.runtime import Runtime
from harness.snapshots import SnapshotError, decode, encode
from tests.sendbird.conftest import AUTH, FEED, HOOK_HOST, HOOK_URL, Api, HookReceiver, make_app


def build_world(api: Api, runtime: Runtime) -> dict[str, Any]:
    """Templates with versions (one archived), users, realtime and batch sends, reads, stats, a targets file,
    rate limits, a device session, and a webhook whose retries are still due (its receiver fails)."""
    receiver = HookReceiver(runtime, fail_first=10**6)
    runtime.transport.register(HOOK_HOST, receiver.app)
    assert api.client.put("/_admin/webhooks", json={"url": HOOK_URL}).status_code == 200
    api.create_template("welcome", label="promo")
    assert api.put("/v1/templates/welcome", {"name": "Welcome v2"}).status_code == 200
    api.create_template("other", channel_url="feed_b")
    assert api.post("/v1/templates/other/archive").status_code == 200
    assert api.post("/v3/users", {"user_id": "u1", "nickname": "Una", "issue_access_token": True,
                                  "metadata": {"tier": "gold"}}).status_code == 200
    first = api.send_ok(["u1"], variables={"u1": {"name": "Una", "code": "A1"}})
    api.send_ok(["u1", "u2", "u3"], mode="batch", tags=["t1"])
    presign = api.post("/v1/storage/targets_files/file1/presigned_urls", {}).get_json()
    upload = api.client.post(presign["url"].replace("http://localhost", ""),
                             data={"key": "file1", "policy": presign["fields"]["policy"],
                                   "file": (__import__("io").BytesIO(b"user_id\nu4\nu5\n"), "t.csv")})
    assert upload.status_code == 201, upload.get_data(as_text=True)
    assert api.send(None, mode="batch", targets_filename="file1").status_code == 200
    assert api.mark_as_read("u1", message_ids=[first["notification_id"]]).status_code == 200
    assert api.stats("u1", "clicked", [first["notification_id"]]).status_code == 200
    assert api.client.put("/_admin/rate_limits", json={"send": {"limit": 1000, "window_seconds": 60}}
                          ).status_code == 200
    session = api.login("u2")
    runtime.scheduler.run_for(0.5)  # the first tries fail; their retries are due later
    return {"notification_id": first["notification_id"], "session": session, "receiver": receiver}


def reads(api: Api, notification_id: str) -> dict[str, Any]:
    """Every public and admin read of the world."""
    out: dict[str, Any] = {}
    for path in ["/v1/templates", "/v1/templates/welcome", "/v1/templates/other", "/v3/users/u1", "/v3/users/u4",
                 f"/v1/notifications/{notification_id}", "/v3/notifications/users/u1/unread_message_count",
                 "/v3/users/u1/my_group_channels"]:
        resp = api.get(path)
        out[path] = (resp.status_code, resp.get_json())
    for user in ("u1", "u2", "u3", "u4", "u5"):
        resp = api.messages_resp(user, message_ts=2**62, prev_limit=100)
        out[f"messages/{user}"] = (resp.status_code, resp.get_json())
        feed = api.client.get(f"/_admin/feeds/{user}/{FEED}")
        out[f"feed/{user}"] = (feed.status_code, feed.get_json())
    for path in ["/_admin/webhooks", "/_admin/stats", "/_admin/rate_limits"]:
        out[path] = api.client.get(path).get_json()
    return out


def journal_records(client) -> list[dict[str, Any]]:
    return client.get("/_admin/journal?limit=10000").get_json()["records"]


def fresh(at: Runtime | None = None) -> tuple[Any, Api, Runtime]:
    """A new app on a new runtime, its clock at `at`'s time (a restarted process reads the same wall clock)."""
    runtime = Runtime.simulation(seed=1, start=at.clock.now() if at is not None else None)
    app = make_app(runtime)
    return app, Api(app.test_client(), runtime), runtime


def test_a_world_round_trips_through_a_snapshot(api, runtime):
    world = build_world(api, runtime)
    before = reads(api, world["notification_id"])
    records = journal_records(api.client)
    epoch = api.client.get("/_admin/health").get_json()["journal_epoch"]
    download = api.client.post("/_admin/snapshot")
    assert download.status_code == 200
    assert download.mimetype == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith('attachment; filename="sendbird-')

    app2, api2, _runtime2 = fresh(runtime)
    app2.extensions["snapshots"].restore(download.data)
    assert reads(api2, world["notification_id"]) == before
    assert journal_records(api2.client) == records
    # a download is not a clean (shutdown) snapshot: the journal has a new epoch, followers see a restart
    health = api2.client.get("/_admin/health").get_json()
    assert health["journal_epoch"] != epoch
    page = api2.client.get(f"/_admin/journal?since={epoch}:{records[-1]['seq']}").get_json()
    assert page["restarted"] is True
    # the device's session is still valid
    assert api2.client.get("/v3/users/u2/unread_message_count", headers=world["session"]).status_code == 200


def test_pending_webhook_retries_are_made_after_a_restore(api, runtime):
    world = build_world(api, runtime)
    failed = len(world["receiver"].calls)
    assert failed > 0
    data = api.client.post("/_admin/snapshot").data
    app2, api2, runtime2 = fresh()
    receiver = HookReceiver(runtime2)
    runtime2.transport.register(HOOK_HOST, receiver.app)
    app2.extensions["snapshots"].restore(data)
    api2.settle()
    assert receiver.calls, "the retries due at the snapshot are made by the restored fake"
    assert {c["json"]["category"] for c in receiver.calls} <= {c["json"]["category"]
                                                              for c in world["receiver"].calls}
    attempts = api2.records("webhook.attempt")
    assert any(r["attempt"] > 1 and r["ok"] for r in attempts)


def test_ids_do_not_repeat_after_a_restore(api, runtime):
    api.create_template("welcome")
    sent = api.send_ok(["u1"])
    data = api.client.post("/_admin/snapshot").data
    app2, api2, _ = fresh()
    app2.extensions["snapshots"].restore(data)
    again = api2.send_ok(["u1"])
    assert again["notification_id"] != sent["notification_id"]
    ids = [m["message_id"] for m in api2.messages("u1")]
    assert len(ids) == len(set(ids)) == 2
    assert ids[1] > ids[0]


def test_a_clean_snapshot_keeps_the_journal_epoch(api, runtime, tmp_path):
    api.create_template("welcome")
    api.send_ok(["u1"])
    keeper = api.client.application.extensions["snapshots"]
    path = tmp_path / "sendbird.snapshot"
    keeper.persist_dir = tmp_path
    keeper.save_on_shutdown()
    assert json.loads(path.read_bytes().split(b"\n", 1)[0])["clean"] is True
    app2, _api2, _ = fresh()
    app2.extensions["snapshots"].restore(path.read_bytes())
    assert app2.extensions["runtime"].journal.epoch == runtime.journal.epoch
    assert app2.extensions["runtime"].journal.cursor == runtime.journal.cursor


def test_loading_a_clean_snapshot_at_start_writes_an_unclean_one_over_it(api, runtime, tmp_path):
    api.create_template("welcome")
    keeper = api.client.application.extensions["snapshots"]
    keeper.persist_dir = tmp_path
    keeper.save_on_shutdown()
    app2, api2, _ = fresh()
    app2.extensions["snapshots"].load_at_start(persist_dir=str(tmp_path))
    header = json.loads((tmp_path / "sendbird.snapshot").read_bytes().split(b"\n", 1)[0])
    assert header["clean"] is False
    assert api2.get("/v1/templates/welcome").status_code == 200


def test_snapshot_to_a_path_and_its_answer(api, tmp_path):
    api.create_template("welcome")
    target = tmp_path / "world.snapshot"
    resp = api.client.post("/_admin/snapshot", json={"path": str(target)})
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"path", "bytes", "taken_at", "service"}
    assert body["service"] == "sendbird" and body["bytes"] == target.stat().st_size
    assert not [p for p in tmp_path.iterdir() if p.name != "world.snapshot"], "no temporary file is left"
    assert decode(target.read_bytes(), "sendbird").state["service"]["templates"]["welcome"].key == "welcome"


@pytest.mark.parametrize("body, words", [
    ({"path": ""}, '"path"'), ({"path": 3}, '"path"'), ({"seed": "yes"}, '"seed"'),
    ({"seed": True, "path": "/tmp/x"}, "not both"), ({"nope": 1}, "nope"), ([1], "JSON object"),
])
def test_bad_snapshot_bodies_are_sendbird_400s(api, body, words):
    resp = api.client.post("/_admin/snapshot", json=body)
    assert resp.status_code == 400
    answer = resp.get_json()
    assert set(answer) == {"error", "code", "message"} and words in answer["message"], answer


def test_snapshot_to_a_missing_directory_is_a_400(api, tmp_path):
    resp = api.client.post("/_admin/snapshot", json={"path": str(tmp_path / "no" / "x.snapshot")})
    assert resp.status_code == 400
    assert "is not a directory" in resp.get_json()["message"]


# -- reset to empty or to the seed world ------------------------------------------------------------------

def test_reset_without_a_body_empties(api):
    api.create_template("welcome")
    resp = api.client.post("/_admin/reset")
    assert resp.status_code == 200 and resp.get_json() == {"status": "reset", "service": "sendbird"}
    assert api.get("/v1/templates").get_json()["templates"] == []


def test_reset_to_seed_goes_back_to_the_seeded_world(api):
    api.create_template("welcome")
    api.send_ok(["u1"])
    seeded = api.client.post("/_admin/snapshot", json={"seed": True})
    assert seeded.status_code == 200 and seeded.get_json()["seed"] is True
    api.create_template("later")
    sent = api.send_ok(["u1"])
    resp = api.client.post("/_admin/reset", json={"to": "seed"})
    assert resp.status_code == 200, resp.get_json()
    keys = [t["key"] for t in api.get("/v1/templates").get_json()["templates"]]
    assert keys == ["welcome"]
    assert len(api.messages("u1")) == 1
    again = api.send_ok(["u1"])
    assert again["notification_id"] != sent["notification_id"], "a reset to the seed hands out no id twice"
    assert len({m["message_id"] for m in api.messages("u1")}) == 2
    assert api.client.post("/_admin/reset", json={"to": "empty"}).status_code == 200
    assert api.get("/v1/templates").get_json()["templates"] == []


def test_reset_to_seed_without_one_says_how_to_make_one(api):
    resp = api.client.post("/_admin/reset", json={"to": "seed"})
    assert resp.status_code == 400
    assert '{"seed": true}' in resp.get_json()["message"]


@pytest.mark.parametrize("body", [{"to": "world"}, {"to": 1}, {"other": "x"}, ["seed"]])
def test_bad_reset_bodies_are_refused_and_change_nothing(api, body):
    api.create_template("welcome")
    resp = api.client.post("/_admin/reset", json=body)
    assert resp.status_code == 400
    assert set(resp.get_json()) == {"error", "code", "message"}
    assert len(api.get("/v1/templates").get_json()["templates"]) == 1


# -- refusals: nothing changes ----------------------------------------------------------------------------

def world_bytes(api: Api) -> bytes:
    api.create_template("welcome")
    api.send_ok(["u1"])
    return api.client.post("/_admin/snapshot").data


def rebuild(header_changes: dict[str, Any], payload: bytes) -> bytes:
    header = {"format": "bsim-snapshot", "version": 1, "service": "sendbird", "taken_at": "2026-01-01T00:00:00",
              "clean": False, "bytes": len(payload), **header_changes}
    import hashlib
    header.setdefault("sha256", hashlib.sha256(payload).hexdigest())
    return json.dumps(header).encode() + b"\n" + payload


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def corruptions(good: bytes) -> dict[str, tuple[bytes, str]]:
    header, payload = good.split(b"\n", 1)
    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 0xFF
    return {
        "empty": (b"", "not a bsim snapshot"),
        "not ours": (b"hello world\n" + payload, "not a bsim snapshot"),
        "truncated": (good[:-10], "truncated"),
        "corrupt": (header + b"\n" + bytes(flipped), "corrupt"),
        "wrong version": (rebuild({"version": 2}, payload), "version 2"),
        "wrong format": (rebuild({"format": "other"}, payload), "not a bsim snapshot"),
        "wrong service": (rebuild({"service": "braze"}, payload), "'braze'"),
        "disallowed class": (rebuild({}, zlib.compress(pickle.dumps({"service": Evil()}))), "builtins.print"),
        "foreign class": (rebuild({}, zlib.compress(pickle.dumps({"service": Fraction(1, 3)}))), "fractions.Fraction"),
        "project function": (rebuild({}, zlib.compress(pickle.dumps({"service": parse_cursor}))), "may not hold"),
        "not zlib": (rebuild({}, b"plain bytes"), "could not be read"),
        "wrong shape": (rebuild({}, zlib.compress(pickle.dumps({"service": {"version": 1}}))), "could not be loaded"),
    }


@pytest.mark.parametrize("case", ["empty", "not ours", "truncated", "corrupt", "wrong version", "wrong format",
                                  "wrong service", "disallowed class", "foreign class", "project function",
                                  "not zlib", "wrong shape"])
def test_bad_files_are_refused_and_nothing_changes(api, runtime, case, capsys):
    good = world_bytes(api)
    app2, api2, runtime2 = fresh()
    api2.create_template("mine")
    mine = reads(api2, "none")
    records = journal_records(api2.client)
    epoch = runtime2.journal.epoch
    data, words = corruptions(good)[case]
    with pytest.raises(SnapshotError) as refused:
        app2.extensions["snapshots"].restore(data)
    assert words in str(refused.value)
    assert "\n" not in str(refused.value)
    assert "pwned" not in capsys.readouterr().out
    assert reads(api2, "none") == mine
    assert journal_records(api2.client) == records and runtime2.journal.epoch == epoch


@pytest.mark.parametrize("part, value", [("next_message_id", 0), ("webhooks", {"url": "ftp://x", "events": [],
                                                                             "pending": []})])
def test_a_state_that_fails_late_changes_nothing(api, runtime, part, value):
    """A state whose late parts are bad (a message id counter behind its messages, a webhook URL that is not
    one) loads nothing."""
    good = decode(world_bytes(api), "sendbird")
    state = good.state
    state["service"][part] = value
    app2, api2, _ = fresh()
    api2.create_template("mine")
    with pytest.raises(SnapshotError, match="could not be loaded"):
        app2.extensions["snapshots"].restore(encode("sendbird", state, False))
    assert [t["key"] for t in api2.get("/v1/templates").get_json()["templates"]] == ["mine"]
    assert api2.client.get("/_admin/webhooks").get_json()["url"] is None


def test_a_snapshot_is_taken_with_an_api_token_elsewhere_too(api):
    """Snapshots are admin routes: the product's Api-Token is not asked for."""
    assert api.client.post("/_admin/snapshot", headers={k: "x" for k in AUTH}).status_code == 200


def test_feed_channel_urls_are_kept(api):
    api.create_template("welcome", channel_url="feed_a")
    api.send_ok(["u1"])
    data = api.client.post("/_admin/snapshot").data
    app2, api2, _ = fresh()
    app2.extensions["snapshots"].restore(data)
    assert api2.messages("u1", "feed_a") == api.messages("u1", "feed_a")
    assert FEED not in api2.client.application.extensions["sendbird"].feeds.channels
