"""The order service against the harness's fakes, with only the plugin's fixtures: `fake_stack` in-process (the
service calls Braze's and Sendbird's real hosts, answered by the fakes on a simulated clock) and `live_stack`
(real servers on loopback, for the same flow over sockets).

The shipped-order canvas is what Braze's dashboard would hold: one message step whose webhook is the Sendbird
Webhook Template, filling the `order_shipped` template's variables from the canvas entry properties.
"""

from __future__ import annotations

import pytest
from orders import Config, Item, OrderError, OrderService

SHIPPED = {"title": "Order {order_id} has shipped", "body": "Hi {first_name}, {carrier} is bringing it."}


def shipped_canvas(stack) -> str:
    stack.sendbird.add_template("order_shipped", SHIPPED)
    webhook = stack.sendbird_webhook("order_shipped", {
        "order_id": "{{canvas_entry_properties.${order_id}}}",
        "carrier": "{{canvas_entry_properties.${carrier}}}",
        "first_name": "{{${first_name}}}"})
    return stack.braze.add_canvas("order shipped", [{"id": "notify", "type": "message", "webhook": webhook}])


def service_for(stack, canvas_id: str, monkeypatch: pytest.MonkeyPatch) -> OrderService:
    """The service configured as in production, from its environment variables, pointed at the stack."""
    env = {"BRAZE_REST_URL": stack.braze.url, "BRAZE_API_KEY": stack.braze.api_key,
           "SENDBIRD_APP_ID": stack.sendbird.app_id, "SENDBIRD_API_TOKEN": stack.sendbird.api_token,
           "SHIPPED_CANVAS_ID": canvas_id}
    if stack.sendbird.chat_url != f"https://api-{stack.sendbird.app_id.lower()}.sendbird.com":
        env["SENDBIRD_API_HOST"] = stack.sendbird.chat_url  # live: the fake's loopback port
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return OrderService(Config.from_env())


@pytest.fixture
def shop(fake_stack, monkeypatch):
    service = service_for(fake_stack, shipped_canvas(fake_stack), monkeypatch)
    yield service
    service.close()


def test_a_registered_customer_exists_in_braze_and_in_sendbird(shop, fake_stack):
    shop.register_customer("ada", "Ada", "ada@example.com")
    profile = fake_stack.braze.user("ada")
    assert (profile["first_name"], profile["email"]) == ("Ada", "ada@example.com")
    assert fake_stack.sendbird.user("ada")["nickname"] == "Ada"
    # at the products' real hosts: Braze's through requests, Sendbird's through the SDK's urllib3
    assert [c.request.url for c in fake_stack.braze.calls] == ["https://rest.iad-01.braze.com/users/track"]
    assert [c.request.url for c in fake_stack.sendbird.calls] == ["https://api-local.sendbird.com/v3/users"]


def test_placing_an_order_records_its_purchases_on_the_braze_profile(shop, fake_stack):
    shop.register_customer("ada", "Ada", "ada@example.com")
    shop.place_order("ada", [Item("mug", 12.0), Item("tea", 4.5, quantity=2)])
    profile = fake_stack.braze.user("ada")
    assert sorted(p["name"] for p in profile["purchases"]) == ["mug", "tea"]
    assert profile["total_revenue"] == pytest.approx(12.0 + 2 * 4.5)


def test_shipping_notifies_the_customer_with_the_order_and_the_carrier(shop, fake_stack):
    shop.register_customer("ada", "Ada", "ada@example.com")
    order = shop.place_order("ada", [Item("mug", 12.0)])
    shop.ship(order, "DHL")
    notification = fake_stack.sendbird.assert_notified("ada", "order_shipped", order_id=order.order_id,
                                                       carrier="DHL", first_name="Ada")
    assert notification.rendered == {"title": f"Order {order.order_id} has shipped",
                                     "body": "Hi Ada, DHL is bringing it."}
    fake_stack.assert_reported("ada", "SENT", notification)


def test_the_customer_reading_it_is_reported_to_braze_as_read(shop, fake_stack):
    shop.register_customer("ada", "Ada", "ada@example.com")
    shop.ship(shop.place_order("ada", [Item("mug", 12.0)]), "UPS")
    notification = fake_stack.read("ada")
    fake_stack.assert_reported("ada", "READ", notification)


def test_a_purchase_braze_skips_is_an_error_not_a_lost_sale(shop, fake_stack):
    shop.register_customer("ada", "Ada", "ada@example.com")
    with pytest.raises(OrderError, match=r"Braze skipped part of /users/track: .*currency"):
        shop.place_order("ada", [Item("mug", 12.0), Item("tea", 4.5, currency="doubloons")])
    assert [p["name"] for p in fake_stack.braze.user("ada")["purchases"]] == ["mug"]


def test_an_order_braze_refuses_whole_is_an_error(shop):
    with pytest.raises(OrderError, match=r"Braze refused /users/track \(400\): Valid data must be provided"):
        shop.place_order("ada", [Item("tea", 4.5, currency="doubloons")])


def test_shipping_with_a_canvas_braze_does_not_have_is_an_error(fake_stack, monkeypatch):
    service = service_for(fake_stack, "not-a-canvas", monkeypatch)
    service.register_customer("ada", "Ada", "ada@example.com")
    with pytest.raises(OrderError, match=r"Braze refused /canvas/trigger/send \(400\)"):
        service.ship(service.place_order("ada", [Item("mug", 12.0)]), "DHL")
    fake_stack.sendbird.assert_not_notified("ada")


def test_a_customer_registered_twice_is_an_error_from_sendbird(shop):
    shop.register_customer("ada", "Ada", "ada@example.com")
    with pytest.raises(OrderError, match="400202"):
        shop.register_customer("ada", "Ada", "ada@example.com")


@pytest.mark.live
def test_the_whole_order_over_real_servers(live_stack, monkeypatch):
    service = service_for(live_stack, shipped_canvas(live_stack), monkeypatch)
    try:
        service.register_customer("ada", "Ada", "ada@example.com")
        order = service.place_order("ada", [Item("mug", 12.0)])
        service.ship(order, "DHL")
    finally:
        service.close()
    assert [p["name"] for p in live_stack.braze.user("ada")["purchases"]] == ["mug"]
    notification = live_stack.sendbird.assert_notified("ada", "order_shipped", order_id=order.order_id,
                                                       carrier="DHL")
    assert notification.rendered["body"] == "Hi Ada, DHL is bringing it."
    live_stack.assert_reported("ada", "SENT", notification)
    live_stack.read("ada", notification)
    live_stack.assert_reported("ada", "READ", notification)
