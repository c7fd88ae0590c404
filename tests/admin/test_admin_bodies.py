"""Admin bodies the fuzzer found answering 500, pinned: each is a 400 in the service's error format."""

from __future__ import annotations

import pytest

from .services import braze_env, braze_error, bridge_env, sendbird_error

DEEP_LIST = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
BRIDGE_WRITES = [("PUT", "/_admin/integration"), ("POST", "/_admin/dead_letters/replay"), ("PUT", "/_admin/sending")]


@pytest.fixture
def braze():
    env = braze_env()
    yield env
    env.runtime.close()


@pytest.fixture
def bridge():
    env = bridge_env()
    yield env
    env.runtime.close()


def assert_bridge_error(response, code: int) -> dict:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert sendbird_error(body) and body["code"] == code, body
    return body


@pytest.mark.parametrize(("method", "path"), BRIDGE_WRITES)
@pytest.mark.parametrize("raw", [DEEP_LIST, DEEP_OBJECT, b'{"paused": NaN}', b'{"ids": [Infinity]}', b"\xff"],
                         ids=["deep-list", "deep-object", "nan", "infinity", "not-utf8"])
def test_bridge_admin_bodies_that_are_not_json_are_invalid_json(bridge, method, path, raw):
    response = bridge.client.open(path, method=method, data=raw, content_type="application/json")
    assert_bridge_error(response, 400403)


@pytest.mark.parametrize("ids", [[True], [False, 1], [1.0], ["1"], [None], 1, {"1": 1}])
def test_replay_ids_must_be_a_list_of_integers(bridge, ids):
    """`true` is no dead letter id, though Python counts it as the integer 1 (it replayed letter 1)."""
    response = bridge.client.post("/_admin/dead_letters/replay", json={"ids": ids})
    assert_bridge_error(response, 400111)
    assert bridge.client.get("/_admin/dead_letters").get_json()["dead_letters"][0]["replayed_at"] is None


@pytest.mark.parametrize("ids", [[2**63], [10**30], [-1], []])
def test_replay_of_ids_that_name_no_dead_letter_replays_nothing(bridge, ids):
    response = bridge.client.post("/_admin/dead_letters/replay", json={"ids": ids})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"replayed": []}


def test_replay_of_a_dead_letter_by_id_still_works(bridge):
    dead = bridge.client.get("/_admin/dead_letters").get_json()["dead_letters"]
    response = bridge.client.post("/_admin/dead_letters/replay", json={"ids": [dead[0]["id"]]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [r["id"] for r in response.get_json()["replayed"]] == [dead[0]["id"]]


# -- the fake Braze -------------------------------------------------------------------------------

def assert_braze_error(response) -> str:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert braze_error(body), body
    return body["message"]


@pytest.mark.parametrize("permissions", [[["users.track"]], [{"a": 1}], [1], [None], "users.track"])
def test_api_key_permissions_must_be_a_list_of_strings(braze, permissions):
    assert "permissions" in assert_braze_error(braze.client.post("/_admin/api_keys", json={
        "key": "k2", "permissions": permissions}))
    assert [k["key"] for k in braze.client.get("/_admin/api_keys").get_json()["api_keys"]] == ["local-braze-key"]
