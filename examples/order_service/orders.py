"""An order service, as a team might write one: Braze records what customers buy and runs the shipped-order
canvas, Sendbird shows the customer their notifications.

- `register_customer` creates the customer in Braze (`POST /users/track` attributes) and in Sendbird (the
  Platform API's "Create a user" through `sendbird-platform-sdk`);
- `place_order` records each line as a Braze purchase (`POST /users/track` purchases) with the order's id;
- `ship` triggers the shipped-order canvas (`POST /canvas/trigger/send`) with the order id and the carrier as
  canvas entry properties; the canvas's message step sends the Sendbird notification.
Every call Braze or Sendbird refuses, and every purchase or attribute Braze skips (a non-fatal error in a 201),
raises `OrderError` with the product's own message: a lost purchase must not pass unnoticed.

It knows nothing of the harness: it calls the products' real hosts, configured from the environment.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
import sendbird_platform_sdk
from sendbird_platform_sdk.api.user_api import UserApi
from sendbird_platform_sdk.exceptions import ApiException
from sendbird_platform_sdk.model.create_a_user_request import CreateAUserRequest

TIMEOUT = 10


class OrderError(Exception):
    """Braze or Sendbird refused what the service asked."""


@dataclass(frozen=True)
class Config:
    braze_url: str  # the workspace's REST endpoint, e.g. https://rest.iad-01.braze.com
    braze_api_key: str
    sendbird_app_id: str
    sendbird_api_token: str
    shipped_canvas_id: str
    sendbird_api_host: str = ""  # the Platform API's host; empty for Sendbird's, https://api-{app_id}.sendbird.com

    @property
    def sendbird_host(self) -> str:
        return self.sendbird_api_host or f"https://api-{self.sendbird_app_id.lower()}.sendbird.com"

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        return cls(braze_url=env.get("BRAZE_REST_URL", "https://rest.iad-01.braze.com"),
                   braze_api_key=env.get("BRAZE_API_KEY", ""), sendbird_app_id=env.get("SENDBIRD_APP_ID", ""),
                   sendbird_api_token=env.get("SENDBIRD_API_TOKEN", ""),
                   shipped_canvas_id=env.get("SHIPPED_CANVAS_ID", ""),
                   sendbird_api_host=env.get("SENDBIRD_API_HOST", ""))


@dataclass(frozen=True)
class Item:
    sku: str
    price: float
    quantity: int = 1
    currency: str = "USD"


@dataclass
class Order:
    order_id: str
    customer_id: str
    items: list[Item]
    carrier: str | None = None
    placed_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class OrderService:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._http = requests.Session()
        self._sendbird = sendbird_platform_sdk.ApiClient(sendbird_platform_sdk.Configuration(host=config.sendbird_host))
        self._sendbird_users = UserApi(self._sendbird)

    def close(self) -> None:
        self._http.close()
        self._sendbird.close()

    def register_customer(self, customer_id: str, first_name: str, email: str) -> None:
        self._braze("/users/track", {"attributes": [{"external_id": customer_id, "first_name": first_name,
                                                      "email": email}]})
        request = CreateAUserRequest(user_id=customer_id, nickname=first_name, profile_url="")
        try:
            self._sendbird_users.create_a_user(api_token=self.config.sendbird_api_token,
                                               create_a_user_request=request)
        except ApiException as refused:
            raise OrderError(f"Sendbird refused the customer {customer_id!r} ({refused.status}): "
                             f"{refused.body}") from None

    def place_order(self, customer_id: str, items: list[Item]) -> Order:
        order = Order(uuid.uuid4().hex[:12], customer_id, list(items))
        time = order.placed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._braze("/users/track", {"purchases": [
            {"external_id": customer_id, "product_id": item.sku, "currency": item.currency, "price": item.price,
             "quantity": item.quantity, "time": time, "properties": {"order_id": order.order_id}}
            for item in items]})
        return order

    def ship(self, order: Order, carrier: str) -> str:
        """The shipped-order canvas for the order's customer; Braze's dispatch id."""
        answer = self._braze("/canvas/trigger/send", {
            "canvas_id": self.config.shipped_canvas_id,
            "canvas_entry_properties": {"order_id": order.order_id, "carrier": carrier},
            "recipients": [{"external_user_id": order.customer_id}]})
        order.carrier = carrier
        return answer["dispatch_id"]

    def _braze(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(self.config.braze_url.rstrip("/") + path, json=body, timeout=TIMEOUT,
                                   headers={"Authorization": f"Bearer {self.config.braze_api_key}"})
        try:
            answer = response.json()
        except ValueError:
            answer = {"message": response.text}
        if not response.ok:
            raise OrderError(f"Braze refused {path} ({response.status_code}): {answer.get('message')}")
        if answer.get("errors"):  # a 201 that skipped part of the request (Braze's non-fatal errors)
            raise OrderError(f"Braze skipped part of {path}: {answer['errors']}")
        return answer
