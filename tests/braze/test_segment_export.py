"""GET /segments/list, GET /segments/details and POST /users/export/segment.

Sources (braze-inc/braze-docs): `_docs/_api/endpoints/export/segments/get_segment.md`,
`_docs/_api/endpoints/export/segments/get_segment_details.md`,
`_docs/_api/endpoints/export/user_data/post_users_segment.md`;
recorded answers in jonallured/braze_ruby `spec/fixtures/responses/list_segments/with_success/` and
`export_users/by_segment/with_success/responds_with_created.yml`.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
import requests
from flask import Flask
from flask import request as flask_request
from werkzeug.serving import make_server

from harness.runtime import Runtime
from mocks.braze.app import create_app
from mocks.braze.rest.auth import PERMISSIONS
from mocks.braze.users import segment_export

from .braze_fixtures import BrazeEnv, attr_filter

UNKNOWN_SEGMENT = "segment_id must be a string of the Segment api identifier"


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    env.set_attrs(*({"external_id": f"g{i}", "tier": "gold", "first_name": f"G{i}", "email": f"g{i}@example.com"}
                    for i in range(3)),
                  {"external_id": "s1", "tier": "silver", "first_name": "S"})
    yield env
    env.close()


def segment(braze: BrazeEnv, name: str, spec: dict | None = None) -> str:
    response = braze.client.post("/_admin/segments", json={"name": name, "filter": spec or attr_filter(
        "tier", "equals", "gold")})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def start_export(braze: BrazeEnv, segment_id: str, **body):
    body.setdefault("fields_to_export", ["external_id", "first_name"])
    return braze.post("/users/export/segment", {"segment_id": segment_id, **body})


def ready(braze: BrazeEnv) -> None:
    """Run the scheduler until the export tasks are done (not on to their expiry)."""
    braze.run_for(segment_export.PREPARE_SECONDS)


def download(braze: BrazeEnv, url: str):
    return braze.client.get(urlparse(url).path)


def exported_users(braze: BrazeEnv, url: str) -> dict[str, list[dict]]:
    """The files of the downloaded ZIP: name -> its user objects, one JSON object per line."""
    response = download(braze, url)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        return {name: [json.loads(line) for line in archive.read(name).decode().splitlines()]
                for name in archive.namelist()}


# -- /segments/list -----------------------------------------------------------------------------------------
def test_list_gives_the_documented_fields_oldest_first(braze):
    """get_segment.md: id, name, analytics_tracking_enabled, tags; "sorted by time of creation (oldest to newest
    by default)"; recorded: `{"id":...,"name":"Lapsed Users - 7 days","analytics_tracking_enabled":true,"tags":[]}`."""
    first = segment(braze, "First")
    braze.rt.clock.advance(5)
    second = segment(braze, "Second")
    response = braze.get("/segments/list")
    assert response.status_code == 200
    assert response.get_json() == {"segments": [
        {"id": first, "name": "First", "analytics_tracking_enabled": False, "tags": []},
        {"id": second, "name": "Second", "analytics_tracking_enabled": False, "tags": []}], "message": "success"}
    newest_first = braze.get("/segments/list", sort_direction="desc").get_json()["segments"]
    assert [s["id"] for s in newest_first] == [second, first]
    oldest_first = braze.get("/segments/list", sort_direction="asc").get_json()["segments"]
    assert [s["id"] for s in oldest_first] == [first, second]


def test_list_pages_hold_100(braze):
    """get_segment.md: "returned in groups of 100"; `page` "defaults to 0"."""
    for i in range(101):
        braze.service.segments.create(f"s{i:03d}", attr_filter("tier", "equals", "gold"))
    names = [s["name"] for s in braze.get("/segments/list").get_json()["segments"]]
    assert names == [f"s{i:03d}" for i in range(100)]
    assert [s["name"] for s in braze.get("/segments/list", page=1).get_json()["segments"]] == ["s100"]
    assert braze.get("/segments/list", page=2).get_json()["segments"] == []
    newest = [s["name"] for s in braze.get("/segments/list", sort_direction="desc").get_json()["segments"]]
    assert newest[:2] == ["s100", "s099"]  # created at the same simulated instant: newest is the last created


@pytest.mark.parametrize("params", [{"sort_direction": "up"}, {"page": "-1"}, {"page": "x"}])
def test_bad_list_parameters_are_400(braze, params):
    response = braze.get("/segments/list", **params)
    assert response.status_code == 400
    assert response.get_json()["message"]


# -- /segments/details --------------------------------------------------------------------------------------
def test_details_give_the_documented_fields(braze):
    """get_segment_details.md: created_at, updated_at (ISO 8601), name, description ("a human-readable description
    of filters"), text_description, tags, teams."""
    braze.rt.clock.advance(2.25)
    segment_id = segment(braze, "Gold or opted in", {"OR": [
        attr_filter("tier", "equals", "gold"),
        {"push_subscription_status": {"comparison": "is", "value": "opted_in"}}]})
    response = braze.get("/segments/details", segment_id=segment_id)
    assert response.status_code == 200
    assert response.get_json() == {
        "message": "success", "created_at": "2026-01-01T00:00:02.250Z", "updated_at": "2026-01-01T00:00:02.250Z",
        "name": "Gold or opted in", "description": 'tier equals "gold" OR push_subscription_status is "opted_in"',
        "text_description": "", "tags": [], "teams": []}


@pytest.mark.parametrize("params", [{"segment_id": "no-such-segment"}, {}])
def test_details_of_an_unknown_segment_is_400(braze, params):
    response = braze.get("/segments/details", **params)
    assert response.status_code == 400
    assert response.get_json() == {"message": UNKNOWN_SEGMENT}


@pytest.mark.parametrize(("method", "path", "permission"), [
    ("GET", "/segments/details", "segments.details"), ("POST", "/users/export/segment", "users.export.segment")])
def test_the_documented_permissions_are_needed(braze, method, path, permission):
    """get_segment_details.md: "an API key with the segments.details permission"; post_users_segment.md:
    "with the users.export.segment permission"."""
    segment_id = segment(braze, "Gold")
    assert braze.client.post("/_admin/api_keys", json={"key": "narrow", "permissions": [
        p for p in PERMISSIONS if p != permission]}).status_code in (200, 201)
    if method == "GET":
        response = braze.get(path, key="narrow", segment_id=segment_id)
    else:
        response = braze.post(path, {"segment_id": segment_id, "fields_to_export": ["external_id"]}, key="narrow")
    assert response.status_code == 403


# -- /users/export/segment ----------------------------------------------------------------------------------
def test_export_answers_at_once_with_object_prefix_and_url(braze):
    """post_users_segment.md: `object_prefix` (required) and, without cloud storage, `url`; recorded:
    `{"object_prefix":"e739ed46-9cd7-4142-b70f-843b89c5ac80-1592424870","url":"https://...zip","message":"success"}`
    (201), the prefix a UUID and the epoch second of the request."""
    segment_id = segment(braze, "Gold")
    braze.rt.clock.advance(30)
    response = start_export(braze, segment_id)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"object_prefix", "url", "message"} and body["message"] == "success"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-\d+", body["object_prefix"])
    assert body["object_prefix"].endswith(f"-{int(braze.now().timestamp())}")
    assert body["url"].endswith(".zip")


def test_the_url_is_valid_only_once_the_export_is_ready(braze):
    """post_users_segment.md: "The URL will only become a valid location after the export is ready"."""
    url = start_export(braze, segment(braze, "Gold")).get_json()["url"]
    assert download(braze, url).status_code == 404
    braze.run_for(segment_export.PREPARE_SECONDS)
    assert download(braze, url).status_code == 200


def test_the_zip_holds_the_segment_members_one_json_object_per_line(braze):
    """post_users_segment.md: "multiple files of user JSON objects separated by new lines"; members by the filter."""
    url = start_export(braze, segment(braze, "Gold")).get_json()["url"]
    braze.set_attrs({"external_id": "g9", "tier": "gold", "first_name": "Late"})  # joins before the export runs
    ready(braze)
    files = exported_users(braze, url)
    users = [u for lines in files.values() for u in lines]
    assert sorted(u["external_id"] for u in users) == ["g0", "g1", "g2", "g9"]
    assert all(set(u) == {"external_id", "first_name"} for u in users)


def test_fields_and_custom_attributes_to_export(braze):
    """post_users_segment.md: `custom_attributes_to_export` names single attributes; `custom_attributes` in
    `fields_to_export` exports all of them."""
    braze.set_attrs({"external_id": "g0", "tier": "gold", "pet": "cat"})
    seg = segment(braze, "Gold")
    url = start_export(braze, seg, fields_to_export=["email"], custom_attributes_to_export=["pet"]).get_json()["url"]
    ready(braze)
    by_email = {u["email"]: u for lines in exported_users(braze, url).values() for u in lines}
    assert by_email["g0@example.com"] == {"email": "g0@example.com", "custom_attributes": {"pet": "cat"}}
    assert by_email["g1@example.com"] == {"email": "g1@example.com", "custom_attributes": {}}
    url = start_export(braze, seg, fields_to_export=["custom_attributes"]).get_json()["url"]
    ready(braze)
    all_attrs = [u["custom_attributes"] for lines in exported_users(braze, url).values() for u in lines]
    assert {"tier": "gold", "pet": "cat"} in all_attrs


def test_one_file_per_5000_users(braze, monkeypatch):
    """post_users_segment.md: "Generally, we will create 1 file per 5,000 users" (here 2, to keep the test small)."""
    monkeypatch.setattr(segment_export, "USERS_PER_FILE", 2)
    url = start_export(braze, segment(braze, "Gold")).get_json()["url"]
    ready(braze)
    files = exported_users(braze, url)
    assert sorted(len(lines) for lines in files.values()) == [1, 2]
    prefix = urlparse(url).path.rsplit("/", 1)[1].removesuffix(".zip")
    assert all(name.startswith(prefix) and name.endswith(".json") for name in files)


def test_an_empty_segment_gives_an_empty_zip(braze):
    url = start_export(braze, segment(braze, "Nobody", attr_filter("tier", "equals", "platinum"))).get_json()["url"]
    ready(braze)
    assert exported_users(braze, url) == {}


def test_a_second_export_of_a_running_segment_is_429(braze):
    """post_users_segment.md: "Attempting to export a segment a second time while the first export job is still
    running will result in a 429 error"."""
    seg = segment(braze, "Gold")
    assert start_export(braze, seg).status_code == 201
    response = start_export(braze, seg)
    assert response.status_code == 429
    assert response.get_json()["message"]
    assert start_export(braze, segment(braze, "Other")).status_code == 201
    ready(braze)
    assert start_export(braze, seg).status_code == 201


def test_the_download_expires(braze):
    """post_users_segment.md: the URL "will only be valid for a few hours" (harness: KEEP_SECONDS)."""
    url = start_export(braze, segment(braze, "Gold")).get_json()["url"]
    braze.run_for(segment_export.PREPARE_SECONDS)
    assert download(braze, url).status_code == 200
    braze.run_for(segment_export.KEEP_SECONDS)
    assert download(braze, url).status_code == 404


def test_the_callback_is_told_the_url(braze):
    """post_users_segment.md: "we will make a post request to the provided address when the download is ready. The
    body of the post will be "success":true ... additionally ... `url` with the download URL"."""
    hook = braze.receiver(host="client.local")
    url = start_export(braze, segment(braze, "Gold"), callback_endpoint="http://client.local/exports").get_json()["url"]
    assert hook.requests == []
    ready(braze)
    (request,) = hook.requests
    assert (request["method"], request["path"], request["json"]) == ("POST", "/exports", {"success": True, "url": url})
    assert braze.journal("segment_export.callback")[-1]["status"] == 200


def test_an_unreachable_callback_does_not_lose_the_export(braze):
    url = start_export(braze, segment(braze, "Gold"), callback_endpoint="http://nobody.local/x").get_json()["url"]
    ready(braze)
    assert download(braze, url).status_code == 200
    assert braze.journal("segment_export.callback")[-1]["status"] is None


@pytest.mark.parametrize(("body", "message"), [
    ({"segment_id": "no-such-segment", "fields_to_export": ["email"]}, UNKNOWN_SEGMENT),
    ({"fields_to_export": ["email"]}, UNKNOWN_SEGMENT),
    ({"segment_id": "SEG"}, "'fields_to_export' is required"),
    ({"segment_id": "SEG", "fields_to_export": ["shoe_size"]}, "Invalid 'fields_to_export': shoe_size"),
    ({"segment_id": "SEG", "fields_to_export": ["email"], "output_format": "tar"},
     "'output_format' must be 'zip' or 'gzip'"),
    ({"segment_id": "SEG", "fields_to_export": ["email"], "custom_attributes_to_export": "pet"}, None),
    ({"segment_id": "SEG", "fields_to_export": ["email"], "callback_endpoint": "not a url"}, None),
])
def test_bad_export_requests_are_400(braze, body, message):
    """post_users_segment.md: `segment_id` and `fields_to_export` required; `output_format` `zip` or `gzip`."""
    seg = segment(braze, "Gold")
    response = braze.post("/users/export/segment", {k: (seg if v == "SEG" else v) for k, v in body.items()})
    assert response.status_code == 400
    assert response.get_json()["message"] == message or (message is None and response.get_json()["message"])
    assert braze.journal("segment_export.requested") == []


def test_gzip_output_format_is_accepted(braze):
    response = start_export(braze, segment(braze, "Gold"), output_format="gzip")
    assert response.status_code == 201


def test_reset_drops_exports(braze):
    url = start_export(braze, segment(braze, "Gold")).get_json()["url"]
    ready(braze)
    assert braze.client.post("/_admin/reset").status_code in (200, 204)
    assert download(braze, url).status_code == 404


# -- live: real sockets, the live scheduler ------------------------------------------------------------------
class _Served:
    """A WSGI app on an ephemeral loopback port, served by werkzeug in a test thread."""

    def __init__(self, app) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_live_export_is_downloaded_from_the_url_and_the_callback_is_called():
    """The `url` names the address the client used, and the export is prepared on the live scheduler."""
    calls: list[dict] = []
    receiver = Flask("callback-receiver")

    @receiver.post("/done")
    def done():
        calls.append(flask_request.get_json())
        return "", 204

    runtime = Runtime.live(seed=3)
    braze_server = _Served(create_app(runtime))
    hook_server = _Served(receiver)
    auth = {"Authorization": "Bearer local-braze-key"}
    try:
        base = braze_server.base_url
        assert requests.post(f"{base}/users/track", json={"attributes": [
            {"external_id": "g1", "tier": "gold"}, {"external_id": "s1", "tier": "silver"}]},
            headers=auth, timeout=30).status_code == 201
        seg = requests.post(f"{base}/_admin/segments", json={"name": "Gold", "filter": attr_filter(
            "tier", "equals", "gold")}, timeout=30).json()["id"]
        answer = requests.post(f"{base}/users/export/segment", json={
            "segment_id": seg, "fields_to_export": ["external_id"],
            "callback_endpoint": f"{hook_server.base_url}/done"}, headers=auth, timeout=30).json()
        assert answer["url"].startswith(f"{base}/_exports/")
        deadline = time.monotonic() + 60  # generous: the machine is shared
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls == [{"success": True, "url": answer["url"]}]
        download = requests.get(answer["url"], timeout=30)
        assert download.status_code == 200
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            lines = [json.loads(line) for name in archive.namelist() for line in archive.read(name).splitlines()]
        assert lines == [{"external_id": "g1"}]
    finally:
        braze_server.close()
        hook_server.close()
        runtime.close()
