"""`GET /_admin/users?q=`: the console's user search, on the profiles' external id, email, names and braze id; and
`GET /_admin/users/{id}`, the console's profile view, with what the user received."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .braze_fixtures import BrazeEnv, recipients

PEOPLE = [
    {"external_id": "user-1", "first_name": "Åsa", "last_name": "Berg", "email": "asa.berg@example.org"},
    {"external_id": "user-2", "first_name": "Bo", "last_name": "Strand", "email": "BO@Example.com"},
    {"external_id": "member-3", "first_name": "Carla", "last_name": "Bergman", "email": "carla@example.net"},
]


def search(braze: BrazeEnv, **params) -> dict:
    response = braze.client.get("/_admin/users", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def found(braze: BrazeEnv, **params) -> list[str]:
    return [user["external_id"] for user in search(braze, **params)["users"]]


def test_q_finds_by_a_part_of_the_external_id_email_or_name_in_any_case(braze):
    braze.set_attrs(*PEOPLE)
    assert found(braze, q="user-") == ["user-1", "user-2"]
    assert found(braze, q="example.COM") == ["user-2"]
    assert found(braze, q="berg") == ["user-1", "member-3"]  # last names Berg and Bergman
    assert found(braze, q="åSA") == ["user-1"]
    assert found(braze, q="carl") == ["member-3"]
    assert found(braze, q="nobody") == []


def test_q_finds_a_braze_id_only_whole(braze):
    braze.set_attrs(*PEOPLE)
    braze_id = braze.client.get("/_admin/users/member-3").get_json()["braze_id"]
    assert found(braze, q=braze_id) == ["member-3"]
    assert found(braze, q=braze_id.upper()) == ["member-3"]
    assert found(braze, q=braze_id[:10]) == []


def test_a_search_is_paged_and_its_total_counts_the_matches(braze):
    braze.users(*(f"fan-{i}" for i in range(5)), first_name="Fan")
    braze.set_attrs(*PEOPLE)
    page = search(braze, q="fan", limit=2, offset=2)
    assert page["total"] == 5
    assert [u["external_id"] for u in page["users"]] == ["fan-2", "fan-3"]
    assert search(braze)["total"] == 8
    assert search(braze, q="  ")["total"] == 8  # blank: no search


def test_a_query_longer_than_any_field_is_a_400_in_brazes_format(braze):
    response = braze.client.get("/_admin/users", query_string={"q": "x" * 201})
    assert response.status_code == 400
    assert response.get_json() == {"message": "q must be at most 200 characters"}


NAMES = st.text(alphabet="abAB-é", min_size=1, max_size=6)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(names=st.lists(NAMES, min_size=1, max_size=5, unique=True), needle=NAMES)
def test_q_answers_exactly_the_profiles_with_a_field_containing_it(braze, names, needle):
    braze.client.post("/_admin/reset")
    braze.set_attrs(*({"external_id": f"id{i}", "first_name": name} for i, name in enumerate(names)))
    expected = [f"id{i}" for i, name in enumerate(names)
                if needle.casefold() in name.casefold() or needle.casefold() in f"id{i}"]
    assert found(braze, q=needle) == expected


def test_one_profile_lists_what_the_user_received(braze):
    braze.set_attrs({"external_id": "u1"}, {"external_id": "u2"})
    braze.receiver()
    cid = braze.campaign(name="Welcome")
    assert braze.trigger_campaign(cid, recipients=recipients("u1")).status_code == 201
    braze.run()
    (received,) = braze.client.get("/_admin/users/u1").get_json()["campaigns_received"]
    assert (received["name"], received["api_campaign_id"]) == ("Welcome", cid)
    assert braze.client.get("/_admin/users/u2").get_json()["campaigns_received"] == []
