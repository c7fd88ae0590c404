"""Targets files: the presigned upload flow and batch sends from a CSV."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest

from .conftest import assert_error


def presign(api, file_key: str, overwrite: bool | None = False):
    body = {} if overwrite is None else {"overwrite_duplicate_key": overwrite}
    return api.post(f"/v1/storage/targets_files/{file_key}/presigned_urls", body)


def upload(api, grant: dict, csv_text: str) -> None:
    url = urlsplit(grant["url"])
    assert url.scheme in ("http", "https") and url.netloc  # an absolute URL
    path = url.path + (f"?{url.query}" if url.query else "")
    data = dict(grant["fields"])
    data["file"] = (io.BytesIO(csv_text.encode()), "targets.csv", "text/csv")
    resp = api.client.post(path, data=data, content_type="multipart/form-data")
    assert 200 <= resp.status_code < 300, (resp.status_code, resp.get_data(as_text=True))


def put_file(api, file_key: str, ids: list[str], header: bool = True, overwrite: bool = False) -> None:
    resp = presign(api, file_key, overwrite)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    grant = resp.get_json()
    assert set(grant) >= {"url", "fields", "file_key"}
    assert grant["file_key"] == file_key
    assert isinstance(grant["fields"], dict)
    rows = (["user_id"] if header else []) + ids
    upload(api, grant, "\n".join(rows) + "\n")


def send_file(api, file_key: str):
    return api.post("/v1/notifications", {"template": {"key": "welcome"}, "mode": "batch",
                                          "targets_filename": file_key})


@pytest.mark.parametrize("header", [True, False])
def test_send_with_targets_filename_delivers_to_every_id(api, template, header):
    ids = [f"csv-user-{i}" for i in range(25)]
    put_file(api, "audience", ids, header=header)
    resp = send_file(api, "audience")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["mode"] == "batch"
    assert body["targets_count"] == 25
    api.settle()
    delivered = [r["user_id"] for r in api.records("message.delivered", notification_id=body["notification_id"])]
    assert sorted(delivered) == sorted(ids)
    assert "user_id" not in delivered
    assert len(api.messages("csv-user-7")) == 1


def test_duplicate_file_key_needs_overwrite(api, template):
    put_file(api, "audience", ["a", "b"])
    assert_error(presign(api, "audience", False), 400, 400202)
    assert_error(presign(api, "audience", None), 400, 400202)  # overwrite_duplicate_key defaults to false
    put_file(api, "audience", ["c", "d", "e"], overwrite=True)
    resp = send_file(api, "audience")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    api.settle()
    delivered = {r["user_id"] for r in api.records("message.delivered")}
    assert delivered == {"c", "d", "e"}


def test_overwrite_flag_must_be_a_boolean(api, template):
    assert_error(presign(api, "audience", "yes"), 400, 400104, "overwrite_duplicate_key")


def test_unknown_targets_filename_is_400201(api, template):
    assert_error(send_file(api, "never-uploaded"), 400, 400201)
    api.settle()
    assert api.records("message.delivered") == []


@pytest.mark.parametrize("first", ["target", "targets"])
def test_only_a_user_id_first_row_is_a_header(api, template, first):
    """The doc: "a first row `user_id` is a header"; any other first row is a user id."""
    put_file(api, "audience", [first, "b", "c"], header=False)
    resp = send_file(api, "audience")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["targets_count"] == 3
    api.settle()
    assert {r["user_id"] for r in api.records("message.delivered")} == {first, "b", "c"}


def test_a_targets_file_holds_up_to_100000_ids(api, template):
    ids = [f"f{i}" for i in range(100_000)]
    put_file(api, "big", ids)
    resp = send_file(api, "big")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["targets_count"] == 100_000
    api.settle()
    assert len(api.records("message.delivered")) == 100_000


def test_a_targets_file_over_100000_ids_is_rejected(api, template):
    grant = presign(api, "too-big").get_json()
    url = urlsplit(grant["url"])
    data = dict(grant["fields"])
    csv_text = "user_id\n" + "\n".join(f"f{i}" for i in range(100_001)) + "\n"
    data["file"] = (io.BytesIO(csv_text.encode()), "targets.csv", "text/csv")
    resp = api.client.post(url.path + (f"?{url.query}" if url.query else ""), data=data,
                           content_type="multipart/form-data")
    if 200 <= resp.status_code < 300:  # accepted at upload: the send must refuse it
        assert_error(send_file(api, "too-big"), 400, 400111)
    else:
        assert_error(resp, resp.status_code, 400111)
        assert resp.status_code == 400
    api.settle()
    assert api.records("message.delivered") == []
