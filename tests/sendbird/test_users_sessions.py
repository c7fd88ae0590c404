"""Platform API users, a device's login and its session key, and who creates a user (docs/sendbird-fake.md,
"Users and sessions")."""

from __future__ import annotations

import pytest

from mocks.sendbird import create_app
from mocks.sendbird.sdk_shapes import LOG_PUBLISH_CONFIG

from .conftest import APP_ID, AUTH, FEED, TOKEN, Api, assert_error

LOGIN = "/v3/sdk/users/{}/authentication"
SDK_BODY = {"expiring_session": True, "include_logi": True, "include_extra_data": "premium_feature_list",
            "uikit_config": False, "use_local_cache": False, "app_id": APP_ID, "config_ts": 0}


def login(api, user_id, **headers):
    return api.client.post(LOGIN.format(user_id), json=SDK_BODY, headers=headers)


@pytest.fixture
def strict_api(runtime):
    """An app that requires access tokens and creates no user on a send."""
    app = create_app(runtime=runtime, app_id=APP_ID, api_token=TOKEN, require_access_token=True,
                     create_unknown_users=False)
    return Api(app.test_client(), runtime)


# -- the login answer ------------------------------------------------------------------------------
def test_the_login_answer_is_what_the_sdk_needs(api, template):
    resp = login(api, "ada")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    answer = resp.get_json()
    assert isinstance(answer["key"], str) and len(answer["key"]) >= 32
    assert answer["user_id"] == "ada" and answer["services"] == ["feed"]
    assert "error" not in answer and "new_key" not in answer
    assert answer["login_ts"] == api.now_ms()
    assert (answer["ping_interval"], answer["pong_timeout"]) == (15, 5)
    assert answer["reconnect"] == {"interval": 1, "max_interval": 8, "mul": 2, "retry_cnt": 5}
    assert "allow_sdk_noti_stats_log_publish" in answer["application_attributes"]
    realtime = answer["log_publish_config"]["realtime"]
    assert set(realtime) == {"min_stat_count", "min_interval", "max_stat_count_per_request", "lower_threshold",
                             "request_delay_range"}
    assert realtime == LOG_PUBLISH_CONFIG["realtime"] and realtime["min_stat_count"] == 1


def test_a_first_login_creates_the_user(api):
    login(api, "newcomer")
    assert api.get("/v3/users/newcomer").get_json()["user_id"] == "newcomer"


def test_a_session_key_replaces_the_api_token_and_the_user_id(api, template):
    api.send_ok(["ada"])
    key = login(api, "ada").get_json()["key"]
    resp = api.client.get("/v3/notifications/users/ada/unread_message_count", headers={"Session-key": key})
    assert resp.get_json() == {"unread_feed_count": 1}


def test_an_unknown_session_key_is_400309_so_the_sdk_refreshes_it(api, template):
    resp = api.client.get("/v3/notifications/users/ada/unread_message_count", headers={"Session-key": "forgotten"})
    assert_error(resp, 400, 400309)
    refreshed = api.client.post("/v3/users/ada/session_key", json={"services": ["feed"], "expiring_session": True})
    assert refreshed.status_code == 200
    assert set(refreshed.get_json()) == {"key", "services"}
    resp = api.client.get("/v3/notifications/users/ada/unread_message_count",
                          headers={"Session-key": refreshed.get_json()["key"]})
    assert resp.get_json() == {"unread_feed_count": 0}


def test_a_reset_forgets_sessions(api, template):
    headers = api.login("ada")
    api.client.post("/_admin/reset", json={})
    assert_error(api.client.get(f"/v3/sdk/group_channels/{FEED}", headers=headers), 400, 400309)


def test_a_session_key_is_no_api_token(api, template):
    headers = api.login("ada")
    assert_error(api.client.get("/v1/templates", headers=headers), 401, 400401)
    assert_error(api.client.get("/v3/users/ada", headers=headers), 401, 400401)


@pytest.mark.parametrize("raw", [b"[1]", b"nope", b"42"])
def test_a_login_body_that_is_not_a_json_object_is_400403(api, raw):
    resp = api.client.post(LOGIN.format("ada"), data=raw, headers={"Content-Type": "application/json"})
    assert_error(resp, 400, 400403)


def test_a_user_id_over_80_characters_is_400110(api):
    assert_error(login(api, "u" * 81), 400, 400110, "user_id")


# -- access tokens ---------------------------------------------------------------------------------
def test_a_required_access_token_is_checked(strict_api):
    api = strict_api
    assert_error(login(api, "ada"), 400, 400301)
    created = api.post("/v3/users", {"user_id": "ada", "nickname": "Ada", "issue_access_token": True}).get_json()
    token = created["access_token"]
    assert token
    assert_error(login(api, "ada"), 400, 400302)
    assert_error(login(api, "ada", **{"Access-token": "wrong"}), 400, 400302)
    answer = login(api, "ada", **{"Access-token": token}).get_json()
    assert answer["nickname"] == "Ada"
    fresh = api.post("/v3/users/ada/token").get_json()["token"]
    assert fresh != token
    assert_error(login(api, "ada", **{"Access-token": token}), 400, 400302)
    assert login(api, "ada", **{"Access-token": fresh}).status_code == 200


def test_a_deactivated_user_cannot_log_in(api):
    api.post("/v3/users", {"user_id": "ada"})
    api.put("/v3/users/ada", {"is_active": False})
    assert_error(login(api, "ada"), 400, 400300)


# -- Platform API users ----------------------------------------------------------------------------
def test_create_view_update_delete_a_user(api, template):
    resp = api.post("/v3/users", {"user_id": "ada", "nickname": "Ada", "profile_url": "https://x/a.png",
                                  "metadata": {"plan": "pro"}})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    user = resp.get_json()
    assert (user["user_id"], user["nickname"], user["access_token"], user["is_active"]) == ("ada", "Ada", "", True)
    assert user["metadata"] == {"plan": "pro"} and isinstance(user["created_at"], int)
    assert_error(api.post("/v3/users", {"user_id": "ada"}), 400, 400202)
    assert api.put("/v3/users/ada", {"nickname": "Lovelace"}).get_json()["nickname"] == "Lovelace"
    headers = api.login("ada")
    assert api.client.delete("/v3/users/ada", headers=AUTH).get_json() == {}
    assert_error(api.get("/v3/users/ada"), 400, 400201)
    assert_error(api.client.get(f"/v3/sdk/group_channels/{FEED}", headers=headers), 400, 400309)


@pytest.mark.parametrize(("body", "code", "field"), [
    ({}, 400105, "user_id"),
    ({"user_id": 5}, 400100, "user_id"),
    ({"user_id": ""}, 400111, "user_id"),
    ({"user_id": "a", "nickname": 1}, 400100, "nickname"),
    ({"user_id": "a", "issue_access_token": "yes"}, 400104, "issue_access_token"),
    ({"user_id": "a", "metadata": {"k": 1}}, 400100, "metadata"),
])
def test_create_user_validation(api, body, code, field):
    assert_error(api.post("/v3/users", body), 400, code, field)


def test_unknown_users_are_400201(api):
    assert_error(api.get("/v3/users/nobody"), 400, 400201)
    assert_error(api.put("/v3/users/nobody", {"nickname": "n"}), 400, 400201)
    assert_error(api.client.delete("/v3/users/nobody", headers=AUTH), 400, 400201)
    assert_error(api.post("/v3/users/nobody/token"), 400, 400201)


# -- who creates a user ----------------------------------------------------------------------------
def test_a_send_creates_its_unknown_targets_by_default(api, template):
    api.send_ok(["fresh"])
    assert api.get("/v3/users/fresh").status_code == 200


def test_with_creation_off_a_send_to_an_unknown_user_is_refused(strict_api):
    api = strict_api
    api.create_template("welcome")
    api.post("/v3/users", {"user_id": "known"})
    assert_error(api.send(["known", "ghost"], mode="batch"), 400, 400201, '"ghost"')
    assert api.records("send.accepted") == []
    assert api.send(["known"]).status_code == 200


# -- list users ------------------------------------------------------------------------------------
def make_users(api, *users):
    for user_id, nickname in users:
        assert api.post("/v3/users", {"user_id": user_id, "nickname": nickname}).status_code == 200


def test_list_users_pages_through_them_in_the_order_created(api):
    make_users(api, ("ada", "Ada"), ("bo", "Bo"), ("cy", "Cy"))
    first = api.get("/v3/users?limit=2").get_json()
    assert [u["user_id"] for u in first["users"]] == ["ada", "bo"] and first["next"]
    assert first["users"][0] == api.get("/v3/users/ada").get_json()
    rest = api.get(f"/v3/users?limit=2&token={first['next']}").get_json()
    assert [u["user_id"] for u in rest["users"]] == ["cy"] and rest["next"] == ""
    assert len(api.get("/v3/users").get_json()["users"]) == 3  # 10 a page by default


def test_list_users_filters_by_ids_nickname_and_activation(api):
    make_users(api, ("ada", "Ada"), ("adam", "Adam"), ("bo", "Bo"))
    api.put("/v3/users/bo", {"is_active": False})

    def ids(query):
        return [u["user_id"] for u in api.get(f"/v3/users?{query}").get_json()["users"]]

    assert ids("") == ["ada", "adam"]  # activated users only, unless active_mode says
    assert ids("active_mode=all") == ["ada", "adam", "bo"]
    assert ids("active_mode=deactivated") == ["bo"]
    assert ids("user_ids=adam,bo,nobody&active_mode=all") == ["adam", "bo"]
    assert ids("nickname=Ada") == ["ada"]
    assert ids("nickname_startswith=Ada") == ["ada", "adam"]


@pytest.mark.parametrize("query, code", [("limit=0", 400111), ("limit=101", 400111), ("token=x", 400111),
                                         ("active_mode=some", 400111)])
def test_list_users_refuses_bad_parameters(api, query, code):
    assert_error(api.get(f"/v3/users?{query}"), 400, code)


def test_list_users_needs_the_api_token(api):
    assert_error(api.get("/v3/users", headers={}), 401, 400401)
