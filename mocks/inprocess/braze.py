"""`FakeBraze`: the fake Braze of a mock, as a test drives and reads it.

The team's code calls Braze's REST API at its real host (`https://rest.iad-01.braze.com`, or the instance it is
configured with) with the mock's key. What only Braze's dashboard makes (campaigns, canvases, segments) the
test makes with `add_campaign`, `add_canvas` and `add_segment`; they go through the fake's own definition
routes, so a definition Braze would refuse is refused here, with the fake's reason. What happened is read the
way a person looks at Braze: a user's profile, a user's custom events with their properties, the calls the
team's code made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Flask

from mocks.braze.app import create_app
from mocks.braze.rest.auth import DEFAULT_API_KEY
from mocks.braze.service import BrazeService
from mocks.inprocess.fake import Fake
from mocks.inprocess.hosts import BRAZE_DEFAULT_URL, BRAZE_INSTANCES
from mocks.inprocess.routing import Router
from mocks.inprocess.world import HTTP, Driver, MockError, World

ADMIN_HOST = "braze.local"  # the harness's name for the fake, where its /_admin answers (never at Braze's hosts)


@dataclass(frozen=True)
class Event:
    """A custom event on a Braze profile, as `/users/track` recorded it (`time` after Braze's future-time rule)."""

    name: str
    time: datetime
    properties: dict[str, Any]
    external_id: str | None


class FakeBraze(Fake):
    """The fake Braze, in-process (`in_process`) or a live server (`mocks.live`): the same helpers over HTTP."""

    service_name = "braze"

    def __init__(self, world: Driver, http: HTTP, base: str, api_key: str, url: str, router: Router | None = None,
                 app: Flask | None = None) -> None:
        super().__init__(world, router, set(BRAZE_INSTANCES.values()))
        self.api_key = api_key
        self.url = url.rstrip("/")  # where the team's code calls it
        self.app = app
        self._http = http
        self._base = base  # where the helpers call it

    @classmethod
    def in_process(cls, world: World, router: Router, api_key: str = DEFAULT_API_KEY,
                   url: str = BRAZE_DEFAULT_URL) -> FakeBraze:
        app = create_app(world.runtime, api_key=api_key)
        transport = world.runtime.transport
        for host in BRAZE_INSTANCES.values():
            transport.register(host, app, public=True)
        transport.register(ADMIN_HOST, app)
        router.intercept(*BRAZE_INSTANCES.values())
        return cls(world, transport.client(), f"http://{ADMIN_HOST}", api_key, url, router, app)

    @property
    def service(self) -> BrazeService:
        """The fake's domain, for what the helpers here do not show (in-process only)."""
        if self.app is None:
            raise MockError("a live fake's domain is in its own process: read it over HTTP")
        return self.app.extensions["braze"]

    @property
    def headers(self) -> dict[str, str]:
        """What the team's code sends on every REST call."""
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}

    # -- what Braze's dashboard makes -----------------------------------------------------------------
    def add_campaign(self, name: str, webhook: dict[str, Any], **definition: Any) -> str:
        """A webhook campaign (`trigger`, `audience`, `conversion_events`, ... as in docs/braze-fake.md); its id,
        which `/campaigns/trigger/send` takes as `campaign_id`. An API-triggered campaign unless `trigger` says."""
        body = {"name": name, "webhook": webhook, **definition}
        return self._define("/_admin/campaigns", body)["campaign_id"]

    def add_canvas(self, name: str, steps: list[dict[str, Any]], **definition: Any) -> str:
        """A canvas (`steps`: `message`, `delay`, `decision_split`, ... steps); its id for `/canvas/trigger/send`."""
        body = {"name": name, "steps": steps, **definition}
        return self._define("/_admin/canvases", body)["canvas_id"]

    def add_segment(self, name: str, filter: dict[str, Any]) -> str:
        """A segment whose filter is a connected audience (docs/braze-fake.md, "Segments"): `{"custom_attribute":
        {"custom_attribute_name": "plan", "comparison": "equals", "value": "pro"}}`; its id."""
        return self._define("/_admin/segments", {"name": name, "filter": filter})["id"]

    def track(self, **body: Any) -> dict[str, Any]:
        """`POST /users/track` for the test's own setup (`attributes=[...]`, `events=[...]`), kept out of `calls`."""
        return self._call("POST", "/users/track", body, headers=self.headers, expect=201)

    def _define(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", path, body, expect=201)

    def _call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
              expect: int = 200) -> dict[str, Any]:
        with self.world.serving():
            response = self._http.request(method, f"{self._base}{path}", json=body, headers=headers)
        answer = response.json() if response.content else {}
        if response.status_code != expect:
            raise MockError(f"the fake Braze refused {method} {path} ({response.status_code}): "
                            f"{answer.get('message', response.text)}{_details(answer)}")
        return answer

    # -- what happened --------------------------------------------------------------------------------
    def user(self, external_id: str) -> dict[str, Any] | None:
        """The profile as `/users/export/ids` shows it (attributes, custom events' counts, purchases, what the
        user received), or None for nobody."""
        with self.world.serving():
            response = self._http.get(f"{self._base}/_admin/users/{quote(external_id, safe='')}")
        return response.json() if response.status_code == 200 else None

    def events(self, external_id: str | None = None, name: str | None = None) -> list[Event]:
        """The custom events recorded, oldest first: a user's, and of one name when given."""
        found = []
        for entry in self.world.journal("event.recorded", service="braze"):
            if external_id is not None and entry.get("external_id") != external_id:
                continue
            if name is not None and entry.get("name") != name:
                continue
            found.append(Event(entry["name"], datetime.fromisoformat(entry["time"]), entry.get("properties") or {},
                               entry.get("external_id")))
        return found

    def assert_event(self, external_id: str, name: str, **properties: Any) -> Event:
        """The user's first `name` event whose properties include `properties`; else AssertionError saying which
        events the user has."""
        __tracebackhide__ = True

        def found() -> Event:
            __tracebackhide__ = True
            events = self.events(external_id)
            for event in events:
                if event.name == name and all(event.properties.get(k) == v for k, v in properties.items()):
                    return event
            wanted = f"{name} with {properties}" if properties else name
            had = "\n".join(f"  - {e.time.isoformat()} {e.name} {e.properties}" for e in events) or "  (none)"
            raise AssertionError(f"Braze user {external_id!r} has no custom event {wanted}; their events:\n{had}")

        return self.world.poll(found)


def _details(answer: dict[str, Any]) -> str:
    errors = answer.get("errors")
    return f" {errors}" if errors else ""
