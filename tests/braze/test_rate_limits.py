"""Braze's REST rate limits, per endpoint, and the order of auth and limits.

Sources: `_docs/_api/api_limits.md` and `_includes/rate_limits.md` in braze-inc/braze-docs; recorded answers in
jonallured/braze_ruby `spec/fixtures/responses/` (named per test).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from harness.clock import SimClock
from harness.ratelimit import Limit, RateLimiter
from mocks.braze.rest.limits import DEFAULT_LIMITS, bucket_of

from .braze_fixtures import API_KEY, recipients
from .test_rest_auth import ENDPOINTS, IDS, add_key, call

HOUR, MINUTE = 3600.0, 60.0
LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def remaining(response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


# -- the table: path -> bucket ---------------------------------------------------------------------------
# (path, limit, window) as `_docs/_api/api_limits.md` gives them, for every endpoint the fake serves or will serve
DOCUMENTED = [
    ("/users/track", 3000, 3),
    ("/users/track/sync", 500, MINUTE),  # `_docs/_api/endpoints/user_data/post_user_track_synchronous.md`
    ("/users/export/ids", 250, MINUTE),
    ("/users/delete", 20_000, MINUTE), ("/users/alias/new", 20_000, MINUTE), ("/users/alias/update", 20_000, MINUTE),
    ("/users/identify", 20_000, MINUTE), ("/users/merge", 20_000, MINUTE),
    ("/users/external_ids/rename", 1000, MINUTE), ("/users/external_ids/remove", 1000, MINUTE),
    ("/events/list", 1000, HOUR), ("/purchases/product_list", 1000, HOUR),
    ("/campaigns/data_series", 50_000, MINUTE),
    ("/sends/id/create", 100, 24 * HOUR),
    ("/subscription/status/set", 5000, MINUTE),
    # "Requests with shared rate limits": 250,000 per hour between them
    *[(path, 250_000, HOUR) for path in (
        "/messages/send", "/campaigns/trigger/send", "/canvas/trigger/send", "/campaigns/list", "/campaigns/details",
        "/canvas/list", "/canvas/details", "/events/data_series", "/segments/list", "/segments/details",
        "/users/export/segment", "/campaigns/trigger/schedule/create", "/campaigns/trigger/schedule/update",
        "/campaigns/trigger/schedule/delete", "/canvas/trigger/schedule/create", "/canvas/trigger/schedule/update",
        "/canvas/trigger/schedule/delete", "/messages/schedule/create", "/messages/schedule/update",
        "/messages/schedule/delete", "/messages/scheduled_broadcasts", "/canvas/data_series", "/canvas/data_summary",
        "/sends/data_series", "/subscription/status/get", "/subscription/user/status", "/v2/subscription/status/set")],
]


@pytest.mark.parametrize(("path", "limit", "window"), DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_each_path_counts_in_its_documented_bucket(path, limit, window):
    assert DEFAULT_LIMITS[bucket_of(path)] == Limit(limit, window)


def test_the_shared_endpoints_are_one_bucket_not_one_each():
    """"250,000 requests per hour is shared between all endpoints that don't have their own rate limit"."""
    shared = {bucket_of(path) for path, limit, _ in DOCUMENTED if limit == 250_000}
    identity = {bucket_of(p) for p in ("/users/delete", "/users/alias/new", "/users/identify", "/users/merge")}
    assert len(shared) == 1 and len(identity) == 1


def test_every_rest_route_the_fake_serves_is_in_the_documented_table(braze):
    """A route added without an entry in DOCUMENTED fails here, so its limit gets looked up."""
    served = {rule.rule for rule in braze.app.url_map.iter_rules()
              if not rule.rule.startswith(("/_admin", "/static", "/_exports"))}  # downloads: no key, no limit
    assert served <= {d[0] for d in DOCUMENTED}, served - {d[0] for d in DOCUMENTED}


@pytest.mark.parametrize(("method", "path", "permission", "payload"), ENDPOINTS, ids=IDS)
def test_every_endpoint_reports_its_own_bucket(braze, method, path, permission, payload):
    response = call(braze, method, path, payload, {"Authorization": f"Bearer {API_KEY}"})
    expected = DEFAULT_LIMITS[bucket_of(path)]
    assert response.headers["X-RateLimit-Limit"] == str(expected.limit), (path, dict(response.headers))
    reset = int(response.headers["X-RateLimit-Reset"])
    assert reset % int(expected.window_seconds) == 0 or expected.window_seconds < 60  # windows align to the clock


def test_one_counter_falls_across_the_shared_endpoints(braze):
    """Recorded 2020-06-17: /campaigns/trigger/send 249998, /canvas/trigger/send 249997, /canvas/details (a 400)
    249996, /users/export/segment 249994 ... all with X-RateLimit-Reset 1592427600 (braze_ruby
    campaigns/trigger_send/sends_an_email.yml, canvas/trigger_send/sends_a_canvas.yml,
    canvas/details/returns_error_when_no_canvas.yml)."""
    answers = [braze.post("/campaigns/trigger/send", {"campaign_id": "x", "recipients": recipients("u1")}),
               braze.get("/canvas/details", canvas_id="non-existing"),
               braze.get("/segments/list"),
               braze.post("/messages/send", {"external_user_ids": ["u1"], "messages": {"webhook": {
                   "url": "http://bridge.local/x", "request_method": "POST"}}})]
    assert [a.status_code for a in answers] == [400, 400, 200, 201]
    assert [remaining(a) for a in answers] == [249_999, 249_998, 249_997, 249_996]
    assert len({a.headers["X-RateLimit-Reset"] for a in answers}) == 1
    assert int(answers[0].headers["X-RateLimit-Reset"]) % 3600 == 0


def test_a_bucket_of_its_own_is_not_the_shared_one(braze):
    first = braze.get("/segments/list")
    assert braze.post("/users/delete", {"external_ids": ["nobody"]}).headers["X-RateLimit-Limit"] == "20000"
    assert braze.get("/events/list").headers["X-RateLimit-Limit"] == "1000"
    assert remaining(braze.get("/segments/list")) == remaining(first) - 1


# -- broadcasts --------------------------------------------------------------------------------------------
def test_broadcasts_are_limited_per_unique_audience(braze):
    """"250 requests per minute across all audiences and 10 per minute per unique audience" (current
    api_limits.md on braze.com; the braze-docs source of `_docs/_api/api_limits.md` gives the 250). The old fake
    had one global broadcast key only, so an eleventh broadcast to one audience passed."""
    one, other = braze.campaign(name="One"), braze.campaign(name="Other")
    for _ in range(10):
        assert braze.trigger_campaign(one, broadcast=True).status_code == 201
    limited = braze.trigger_campaign(one, broadcast=True)
    assert (limited.status_code, limited.get_json()) == (429, {"message": "API Rate Limit Exceeded"})
    assert (limited.headers["X-RateLimit-Limit"], limited.headers["X-RateLimit-Remaining"]) == ("10", "0")
    assert braze.trigger_campaign(other, broadcast=True).status_code == 201  # another audience
    narrower = braze.trigger_campaign(one, broadcast=True, audience={"custom_attribute": {
        "custom_attribute_name": "tier", "comparison": "equals", "value": "gold"}})
    assert narrower.status_code == 201  # the same campaign, narrowed by a Connected Audience: another audience
    assert braze.trigger_campaign(one, recipients=recipients("u1")).status_code == 201  # not a broadcast
    braze.rt.clock.advance(60)
    assert braze.trigger_campaign(one, broadcast=True).status_code == 201


def test_the_broadcast_limit_across_audiences_still_holds(braze):
    response = braze.client.patch("/_admin/rate_limits", json={"broadcast": {"limit": 3, "window_seconds": 60}})
    assert response.status_code == 200
    campaigns = [braze.campaign(name=f"C{i}") for i in range(4)]
    assert [braze.trigger_campaign(c, broadcast=True).status_code for c in campaigns] == [201, 201, 201, 429]


def test_scheduled_broadcasts_count_against_the_broadcast_limits_too(braze):
    """api_limits.md's broadcast limit covers the schedule-create calls of a broadcast as well as the sends
    (`rest.limits.BROADCAST_PATHS`); before the limit moved into `rest_endpoint`, only the three send views
    called it, so an eleventh scheduled broadcast to one campaign in a minute passed."""
    campaign = braze.campaign(name="Scheduled")
    when = (braze.rt.clock.now() + timedelta(hours=1)).isoformat().replace("+00:00", "Z")

    def schedule():
        return braze.post("/campaigns/trigger/schedule/create",
                          {"campaign_id": campaign, "broadcast": True, "schedule": {"time": when}})
    assert [schedule().status_code for _ in range(11)] == [201] * 10 + [429]


def test_segment_broadcasts_on_messages_send_are_per_segment(braze):
    segments = [braze.client.post("/_admin/segments", json={"name": n, "filter": {"custom_attribute": {
        "custom_attribute_name": "tier", "comparison": "equals", "value": n}}}).get_json()["id"] for n in ("a", "b")]
    braze.client.patch("/_admin/rate_limits", json={"broadcast.audience": {"limit": 1, "window_seconds": 60}})
    hook = {"url": "http://bridge.local/x", "request_method": "POST"}

    def send(segment_id):
        return braze.post("/messages/send", {"segment_id": segment_id, "broadcast": True,
                                             "messages": {"webhook": hook}})
    assert [send(segments[0]).status_code, send(segments[0]).status_code, send(segments[1]).status_code] == [
        201, 429, 201]


# -- auth before limits ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/users/track", "/segments/list"])
def test_a_401_uses_no_quota_and_carries_empty_limit_headers(braze, path):
    """Recorded: a 401 answers `X-Ratelimit-Limit: ''`, `-Remaining: ''`, `-Reset: ''`
    (braze_ruby track_users/unauthorized/responds_with_unauthorized.yml, send_messages/unauthorized/...)."""
    def ask(key: str):
        if path == "/users/track":
            return braze.post(path, {"attributes": [{"external_id": "u1"}]}, key=key)
        return braze.get(path, key=key)
    before = ask(API_KEY)
    refused = ask("non-existent")
    assert (refused.status_code, refused.get_json()) == (401, {"message": "Invalid API key: non-existent"})
    assert {h: refused.headers.get(h) for h in LIMIT_HEADERS} == dict.fromkeys(LIMIT_HEADERS, "")
    assert remaining(ask(API_KEY)) == remaining(before) - 1


def test_authentication_comes_before_the_limit(braze):
    braze.client.patch("/_admin/rate_limits", json={"rest": {"limit": 0, "window_seconds": 60}})
    assert braze.get("/segments/list").status_code == 429
    refused = braze.get("/segments/list", key="nope")
    assert refused.status_code == 401
    assert refused.headers["X-RateLimit-Limit"] == ""


def test_a_403_uses_quota_and_reports_it(braze):
    """A key of the workspace without the permission is counted like the recorded 400s are (they take their
    place in the falling count: canvas/details/returns_error_when_no_canvas.yml); there is no recorded 403."""
    add_key(braze, "narrow", ["users.track"])
    before = braze.get("/segments/list")
    denied = braze.get("/segments/list", key="narrow")
    assert (denied.status_code, denied.get_json()) == (403, {"message": "Access Denied"})
    assert remaining(denied) == remaining(before) - 1
    assert remaining(braze.get("/segments/list")) == remaining(before) - 2


def test_a_403_past_the_limit_is_a_429(braze):
    add_key(braze, "narrow", ["users.track"])
    braze.client.patch("/_admin/rate_limits", json={"rest": {"limit": 0, "window_seconds": 60}})
    assert braze.get("/segments/list", key="narrow").status_code == 429


# -- the limiter's scopes ------------------------------------------------------------------------------------
def test_scopes_count_apart_under_one_limit():
    limiter = RateLimiter(SimClock(), {"k": Limit(1, 60)})
    assert limiter.hit("k", scope="a").allowed and limiter.hit("k", scope="b").allowed
    assert not limiter.hit("k", scope="a").allowed
    assert limiter.hit("k").allowed  # the unscoped count is a scope of its own


def test_many_scopes_do_not_grow_without_bound_and_keep_the_live_counts():
    clock = SimClock()
    limiter = RateLimiter(clock, {"k": Limit(1, 60)})
    for i in range(RateLimiter.MAX_COUNTERS):
        limiter.hit("k", scope=str(i))
    clock.advance(60)
    assert limiter.hit("k", scope="live").allowed  # the counters of the ended window are dropped here
    assert len(limiter._counts) == 1
    assert not limiter.hit("k", scope="live").allowed  # still counted in its window
    assert limiter.hit("k", scope="0").allowed  # its window ended
