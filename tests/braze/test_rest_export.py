"""POST /users/export/ids and POST /users/delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mocks.braze.users.export import EXPORT_FIELDS

from .braze_fixtures import BrazeEnv


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    env.set_attrs({"external_id": "u1", "first_name": "Ann", "country": "NO", "tier": "gold",
                   "renews": "2026-03-01T00:00:00Z"},
                  {"external_id": "u2", "first_name": "Bo"},
                  {"user_alias": {"alias_name": "a1", "alias_label": "crm"}, "first_name": "Al",
                   "_update_existing_only": False})
    response = env.track({
        "events": [{"external_id": "u1", "name": "played", "time": "2025-12-01T00:00:00Z"},
                   {"external_id": "u1", "name": "played", "time": "2025-12-03T00:00:00Z"},
                   {"external_id": "u1", "name": "bought", "time": "2025-12-02T00:00:00Z"}],
        "purchases": [{"external_id": "u1", "product_id": "sku", "currency": "USD", "price": 1, "quantity": 2,
                       "time": "2025-12-04T00:00:00Z"}]})
    assert response.status_code == 201
    yield env
    env.close()


def export(braze: BrazeEnv, body: dict):
    return braze.post("/users/export/ids", body)


def test_export_by_external_id_has_the_profile(braze):
    body = braze.export("u1")
    assert body["message"] == "success"
    assert "invalid_user_ids" not in body
    (user,) = body["users"]
    assert user["external_id"] == "u1"
    assert len(user["braze_id"]) == 24
    assert (user["first_name"], user["country"]) == ("Ann", "NO")
    assert user["custom_attributes"] == {"tier": "gold", "renews": "2026-03-01T00:00:00Z"}
    assert user["created_at"] == "2026-01-01T00:00:00Z"
    assert isinstance(user["random_bucket"], int) and 0 <= user["random_bucket"] < 10_000


def test_custom_events_first_last_count(braze):
    (user,) = braze.export("u1")["users"]
    assert user["custom_events"] == [
        {"name": "bought", "first": "2025-12-02T00:00:00Z", "last": "2025-12-02T00:00:00Z", "count": 1},
        {"name": "played", "first": "2025-12-01T00:00:00Z", "last": "2025-12-03T00:00:00Z", "count": 2},
    ]
    assert user["purchases"] == [{"name": "sku", "first": "2025-12-04T00:00:00Z", "last": "2025-12-04T00:00:00Z",
                                  "count": 2}]


def test_fields_to_export_filters(braze):
    (user,) = braze.export("u1", fields_to_export=["first_name", "custom_events"])["users"]
    assert set(user) == {"first_name", "custom_events"}
    (user,) = braze.export("u1", fields_to_export=["external_id", "last_name"])["users"]
    assert user == {"external_id": "u1"}  # an empty field is left out


def test_every_documented_field_name_is_accepted(braze):
    (user,) = braze.export("u1", fields_to_export=list(EXPORT_FIELDS))["users"]
    assert user["external_id"] == "u1"


@pytest.mark.parametrize("fields", [["first_name", "shoe_size"], "first_name", [1]])
def test_unknown_or_malformed_fields_to_export_is_400(braze, fields):
    response = export(braze, {"external_ids": ["u1"], "fields_to_export": fields})
    assert response.status_code == 400
    assert "fields_to_export" in response.get_json()["message"]


def test_unknown_ids_are_listed_as_invalid(braze):
    body = braze.export("u1", "nobody", "u2", 7)
    assert sorted(u["external_id"] for u in body["users"]) == ["u1", "u2"]
    assert body["invalid_user_ids"] == ["nobody", 7]


def test_export_by_alias_braze_id_email(braze):
    body = braze.post("/users/export/ids", {"user_aliases": [{"alias_name": "a1", "alias_label": "crm"},
                                                            {"alias_name": "zz", "alias_label": "crm"}]}).get_json()
    assert [u["first_name"] for u in body["users"]] == ["Al"]
    assert body["invalid_user_ids"] == [{"alias_name": "zz", "alias_label": "crm"}]
    braze_id = braze.profile("u2")["braze_id"]
    body = braze.post("/users/export/ids", {"braze_id": braze_id}).get_json()
    assert [u["external_id"] for u in body["users"]] == ["u2"]
    assert braze.track({"attributes": [{"email": "e@example.com", "first_name": "Em"}]}).status_code == 201
    body = braze.post("/users/export/ids", {"email_address": "E@example.com"}).get_json()
    assert [u["first_name"] for u in body["users"]] == ["Em"]


def test_the_same_user_twice_is_exported_once(braze):
    braze_id = braze.profile("u1")["braze_id"]
    body = braze.post("/users/export/ids", {"external_ids": ["u1", "u1"], "braze_id": braze_id}).get_json()
    assert len(body["users"]) == 1


@pytest.mark.parametrize(("count", "status"), [(50, 201), (51, 400)])
def test_50_external_ids_at_most(braze, count, status):
    response = export(braze, {"external_ids": ["u1"] + [f"x{i}" for i in range(count - 1)]})
    assert response.status_code == status
    if status == 201:
        assert len(response.get_json()["invalid_user_ids"]) == 49


def test_51_aliases_is_400(braze):
    aliases = [{"alias_name": f"a{i}", "alias_label": "crm"} for i in range(51)]
    assert export(braze, {"user_aliases": aliases}).status_code == 400


@pytest.mark.parametrize("body", [{}, {"external_ids": "u1"}, [], {"user_aliases": [{"alias_name": "x"}]}])
def test_bad_export_requests_are_400(braze, body):
    response = export(braze, body)
    assert response.status_code == 400
    assert response.get_json()["message"]


# -- delete ------------------------------------------------------------------------------------------------
def test_delete_by_every_kind_of_id(braze):
    braze_id = braze.profile("u2")["braze_id"]
    response = braze.post("/users/delete", {"external_ids": ["u1", "nobody"], "braze_ids": [braze_id],
                                            "user_aliases": [{"alias_name": "a1", "alias_label": "crm"}]})
    assert response.status_code == 201
    assert response.get_json() == {"deleted": 3, "message": "success"}
    assert braze.client.get("/_admin/users").get_json()["total"] == 0
    body = braze.export("u1", "u2")
    assert body["users"] == []
    assert body["invalid_user_ids"] == ["u1", "u2"]


def test_deleted_external_id_can_be_created_again_as_a_new_user(braze):
    old = braze.profile("u1")["braze_id"]
    assert braze.post("/users/delete", {"external_ids": ["u1"]}).get_json()["deleted"] == 1
    braze.users("u1")
    profile = braze.profile("u1")
    assert profile["braze_id"] != old
    assert "custom_events" not in profile


def test_delete_counts_unique_users(braze):
    braze_id = braze.profile("u1")["braze_id"]
    response = braze.post("/users/delete", {"external_ids": ["u1"], "braze_ids": [braze_id]})
    assert response.get_json()["deleted"] == 1


@pytest.mark.parametrize("body", [
    {}, {"external_ids": []}, {"external_ids": [f"x{i}" for i in range(51)]},
    {"external_ids": [f"x{i}" for i in range(30)], "braze_ids": [f"b{i}" for i in range(21)]}, {"braze_ids": "b"}])
def test_bad_delete_requests_are_400(braze, body):
    response = braze.post("/users/delete", body)
    assert response.status_code == 400
    assert braze.client.get("/_admin/users").get_json()["total"] == 3
