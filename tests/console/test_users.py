"""The Users page in-process: search, a user's Braze profile beside their inbox, and acting as their device."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.console.pages.users_inbox import card_of

BRAZE = "http://braze.local"
AUTH = {"Authorization": "Bearer local-braze-key"}
XSS = "<img src=x onerror=alert(1)>"


def braze(sc, path: str, body: dict) -> dict:
    response = sc.runtime.transport.session().post(BRAZE + path, json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()


def trigger(sc, *users: str) -> None:
    braze(sc, "/campaigns/trigger/send",
          {"campaign_id": "welcome", "recipients": [{"external_user_id": u} for u in users]})
    sc.advance(minutes=5)


def profile_of(sc, user: str) -> dict:
    return sc.console.stack.admin("braze", "GET", f"/users/{user}")


def html(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def feed(sc, sendbird_id: str) -> list[dict]:
    return sc.console.stack.admin("sendbird", "GET", f"/feeds/{sendbird_id}/notifications_feed")["messages"]


def badge(page: str) -> int:
    return int(re.search(r'id="unread-badge"[^>]*>(\d+)<', page).group(1))


def event_rows(page: str, status: str) -> list[str]:
    return re.findall(rf'<tr class="event event-{status.lower()}">(.*?)</tr>', page, re.S)


def act(sc, user: str, message_id, action: str):
    return sc.post(f"/api/users/{user}/notifications/{message_id}/{action}", json={})


# -- search ------------------------------------------------------------------------------------------
def test_search_finds_a_user_by_email_name_or_external_id(simulated_console):
    sc = simulated_console
    user = profile_of(sc, "user-7")
    link = 'href="/users/user-7"'
    by_email = html(sc.get("/users", query_string={"q": user["email"].upper()}))
    assert link in by_email and "1 user matching" in by_email
    by_name = html(sc.get("/users", query_string={"q": user["last_name"].lower()}))
    assert link in by_name
    assert link in html(sc.get("/users", query_string={"q": "USER-7"}))
    nobody = html(sc.get("/users", query_string={"q": "no-such-person"}))
    assert "No user matches" in nobody and 'href="/users/user-' not in nobody


def test_the_users_page_without_a_search_lists_the_first_page_and_pages_on(simulated_console):
    first = html(simulated_console.get("/users"))
    assert "60 users" in first and 'href="/users/user-0"' in first and 'href="/users/user-50"' not in first
    second = html(simulated_console.get("/users", query_string={"offset": 50}))
    assert 'href="/users/user-50"' in second and 'href="/users/user-0"' not in second


def test_a_search_braze_refuses_shows_its_reason(simulated_console):
    page = html(simulated_console.get("/users", query_string={"q": "x" * 300}))
    assert "q must be at most 200 characters" in page


# -- profile and inbox -------------------------------------------------------------------------------
def test_the_profile_shows_attributes_and_sent_after_the_campaign(simulated_console):
    sc = simulated_console
    trigger(sc, "user-3")
    page = html(sc.get("/users/user-3"))
    user = profile_of(sc, "user-3")
    assert user["email"] in page and 'data-attribute="sendbird_id">sb-user-3<' in page
    (sent,) = event_rows(page, "SENT")
    assert "sendbird_notification" in sent and "welcome" in sent  # the event and its campaign_id property
    assert "Welcome notification" in page  # campaigns received, from Braze's export
    assert 'data-count="campaigns received">1<' in page


def test_the_inbox_shows_the_rendered_title_unread_with_a_badge(simulated_console):
    sc = simulated_console
    trigger(sc, "user-3", "user-4")
    first_name = profile_of(sc, "user-3")["first_name"]
    fragment = html(sc.get("/users/user-3/inbox/fragment"))
    assert f'<div class="card-title">Welcome, {first_name}!</div>' in fragment
    assert 'class="notification unread"' in fragment and badge(fragment) == 1
    assert "Your free plan is ready." in fragment or "Your pro plan is ready." in fragment


def test_an_inbox_nothing_was_sent_to_is_empty(simulated_console):
    fragment = html(simulated_console.get("/users/user-9/inbox/fragment"))
    assert "No notifications in <code>sb-user-9</code>" in fragment and badge(fragment) == 0


def test_open_reads_the_message_drops_the_badge_and_braze_records_read(simulated_console):
    sc = simulated_console
    trigger(sc, "user-3")
    (message,) = feed(sc, "sb-user-3")
    answer = act(sc, "user-3", message["message_id"], "open")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["unread"] == 0 and "opened" in answer.get_json()["message"]
    assert feed(sc, "sb-user-3")[0]["read_at"] is not None
    fragment = html(sc.get("/users/user-3/inbox/fragment"))
    assert badge(fragment) == 0 and 'class="notification read"' in fragment
    sc.advance(minutes=1)  # the bridge's READ callback to Braze, then a follower round
    (read,) = event_rows(html(sc.get("/users/user-3/profile/fragment")), "READ")
    assert message["notification_id"] in read and "welcome" in read
    counts = braze(sc, "/users/export/ids", {"external_ids": ["user-3"]})["users"][0]["custom_events"]
    assert counts == [{"name": "sendbird_notification", "first": counts[0]["first"], "last": counts[0]["last"],
                       "count": 2}]
    (row,) = sc.console.pipeline.user_rows("user-3")
    assert "read" in row["hops"] and "read_event" in row["hops"]


@pytest.mark.parametrize(("action", "metric"), [("view", "impressions"), ("click", "clicks")])
def test_view_and_click_are_counted_as_the_sdk_would(simulated_console, action, metric):
    sc = simulated_console
    trigger(sc, "user-3")
    (message,) = feed(sc, "sb-user-3")
    assert act(sc, "user-3", message["message_id"], action).status_code == 200
    logged = sc.console.stack.sendbird_api("GET", f"/v1/notifications/{message['notification_id']}")
    assert logged["metrics"][metric] == 1
    assert feed(sc, "sb-user-3")[0]["read_at"] is None  # seen or tapped, not read


def test_the_xss_first_name_renders_as_text_in_profile_and_inbox(simulated_console):
    sc = simulated_console
    braze(sc, "/users/track", {"attributes": [{"external_id": "user-5", "first_name": XSS}]})
    trigger(sc, "user-5")
    for page in (html(sc.get("/users/user-5")), html(sc.get("/users/user-5/profile/fragment")),
                 html(sc.get("/users/user-5/inbox/fragment")), html(sc.get("/users", query_string={"q": "user-5"}))):
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert "<img src=x" not in page
    assert "Welcome, &lt;img src=x onerror=alert(1)&gt;!" in html(sc.get("/users/user-5/inbox/fragment"))


# -- bad input ---------------------------------------------------------------------------------------
def test_device_actions_refuse_what_they_cannot_do(simulated_console):
    sc = simulated_console
    trigger(sc, "user-3")
    (message,) = feed(sc, "sb-user-3")
    dance = act(sc, "user-3", message["message_id"], "dance")
    assert dance.status_code == 400 and "view, open, click" in dance.get_json()["message"]
    assert act(sc, "user-3", "abc", "open").status_code == 400
    missing = act(sc, "user-3", 123, "open")
    assert missing.status_code == 404 and "sb-user-3's feed has no message 123" in missing.get_json()["message"]
    nobody = act(sc, "nobody", message["message_id"], "open")
    assert nobody.status_code == 404 and nobody.get_json() == {"message": "Braze has no user 'nobody'"}


def test_an_unknown_user_is_a_404_page(simulated_console):
    response = simulated_console.get("/users/nobody")
    assert response.status_code == 404 and "Braze has no user" in response.get_data(as_text=True)


# -- cards -------------------------------------------------------------------------------------------
def message(rendered) -> dict:
    return {"message_id": 1, "notification_id": "n1", "channel_url": "notifications_feed", "created_at": 0,
            "read_at": None, "notification_data": {"template_key": "t"}, "rendered_template": rendered}


def test_a_card_takes_title_body_image_and_buttons_from_a_flat_template():
    card = card_of(message({"title": "Spring", "body": "20% off", "image_url": "https://cdn.example/a.png",
                            "cta": "Shop now", "cta_url": "https://shop.example/"}))
    assert (card.title, card.body, card.image) == ("Spring", ["20% off"], "https://cdn.example/a.png")
    assert card.buttons == [{"label": "Shop now", "url": "https://shop.example/"}] and card.unread


def test_a_card_reads_sendbirds_message_template_items():
    card = card_of(message({"version": 1, "body": {"items": [
        {"type": "Box", "items": [{"type": "Image", "imageUrl": "https://cdn.example/b.png"},
                                  {"type": "Text", "text": "Order 42"}, {"type": "Text", "text": "shipped"}]},
        {"type": "TextButton", "text": "Track", "action": {"type": "web", "data": "https://track.example/42"}}]}}))
    assert (card.title, card.body, card.image) == ("Order 42", ["shipped"], "https://cdn.example/b.png")
    assert card.buttons == [{"label": "Track", "url": "https://track.example/42"}]


def test_a_card_never_loads_or_links_a_url_that_is_not_http():
    card = card_of(message({"title": "t", "image": "javascript:alert(1)",
                            "buttons": [{"label": "go", "url": "javascript:alert(1)"}, "plain"]}))
    assert card.image is None
    assert card.buttons == [{"label": "go", "url": None}, {"label": "plain", "url": None}]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["title", "body", "items", "type", "text", "image", "buttons", "cta",
                                         "imageUrl", "action", "data", "label", "url"]), inner, max_size=4),
                    max_leaves=12)


@given(rendered=JSON)
def test_any_rendered_template_makes_a_card_of_text(rendered):
    card = card_of(message(rendered))
    assert isinstance(card.title, str) and all(isinstance(line, str) for line in card.body)
    assert all(isinstance(b["label"], str) and b["label"] for b in card.buttons)
    assert card.image is None or card.image.startswith("http")


def test_the_device_logs_in_again_when_sendbird_forgot_its_session(simulated_console):
    sc = simulated_console
    trigger(sc, "user-3")
    (message,) = feed(sc, "sb-user-3")
    assert act(sc, "user-3", message["message_id"], "view").status_code == 200
    sc.runtime.transport.app_for("sendbird.local").extensions["sendbird"].sessions.clear()  # as a reset does
    answer = act(sc, "user-3", message["message_id"], "open")
    assert answer.status_code == 200, answer.get_json()
    assert feed(sc, "sb-user-3")[0]["read_at"] is not None
