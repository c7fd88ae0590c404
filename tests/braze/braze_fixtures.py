"""Shared set-up for the fake Braze's REST, campaign, canvas and CSV tests.

`BrazeEnv` is one simulated runtime with the fake Braze on it and a Flask test client; `Receiver`
is a webhook target on the simulated transport that answers scripted statuses and records what it
got, with the simulated time of each request. Test modules import these explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, request

from harness.runtime import Runtime
from mocks.braze.app import create_app

API_KEY = "local-braze-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)  # the SimClock's default start
HOOK_HOST = "bridge.local"
HOOK_URL = f"http://{HOOK_HOST}/hook"
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Receiver:
    """Answers each request with the next scripted status (then `default`), recording every request."""

    def __init__(self, runtime: Runtime, host: str = HOOK_HOST, script: list[int] | None = None,
                 default: int = 200, respond: Callable[[str], int] | None = None) -> None:
        self.runtime = runtime
        self.script = list(script or [])
        self.default = default
        self.respond = respond  # status chosen from the request body, when given
        self.requests: list[dict[str, Any]] = []
        app = Flask(f"receiver-{host}")

        @app.route("/", defaults={"path": ""}, methods=METHODS)
        @app.route("/<path:path>", methods=METHODS)
        def hook(path: str) -> Response:
            text = request.get_data(as_text=True)
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            self.requests.append({"time": runtime.clock.now(), "method": request.method, "path": "/" + path,
                                  "headers": dict(request.headers), "body": text, "json": parsed})
            if self.respond is not None:
                status = self.respond(text)
            else:
                status = self.script.pop(0) if self.script else self.default
            return Response("ok" if status < 300 else "no", status=status)

        runtime.transport.register(host, app)

    @property
    def bodies(self) -> list[str]:
        return [r["body"] for r in self.requests]

    @property
    def times(self) -> list[datetime]:
        return [r["time"] for r in self.requests]

    def offsets(self, start: datetime = T0) -> list[float]:
        """Seconds after `start` at which each request arrived."""
        return [(t - start).total_seconds() for t in self.times]


def webhook(body: Any = "{{${user_id}}}", url: str = HOOK_URL, **extra: Any) -> dict[str, Any]:
    return {"url": url, "method": "POST", "body": body, **extra}


class BrazeEnv:
    """The fake Braze on a simulated runtime, driven through its REST and admin APIs."""

    def __init__(self, seed: int = 1, start: datetime | None = None) -> None:
        self.rt = Runtime.simulation(seed=seed, start=start)
        self.app = create_app(self.rt)
        self.client = self.app.test_client()
        self.service = self.app.extensions["braze"]

    def close(self) -> None:
        self.rt.close()

    # -- clock --------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.rt.clock.now()

    def run(self) -> int:
        return self.rt.scheduler.run_until_idle()

    def run_for(self, seconds: float) -> int:
        return self.rt.scheduler.run_for(seconds)

    def receiver(self, host: str = HOOK_HOST, script: list[int] | None = None, default: int = 200,
                 respond: Callable[[str], int] | None = None) -> Receiver:
        return Receiver(self.rt, host, script, default, respond)

    # -- REST ---------------------------------------------------------------------------------
    def post(self, path: str, body: Any = None, key: str | None = API_KEY, headers: dict[str, str] | None = None,
             data: Any = None):
        hdrs = {"Authorization": f"Bearer {key}"} if key is not None else {}
        hdrs.update(headers or {})
        if data is not None:
            return self.client.post(path, data=data, headers=hdrs)
        return self.client.post(path, json=body, headers=hdrs)

    def get(self, path: str, key: str | None = API_KEY, headers: dict[str, str] | None = None, **params: Any):
        hdrs = {"Authorization": f"Bearer {key}"} if key is not None else {}
        hdrs.update(headers or {})
        return self.client.get(path, query_string=params, headers=hdrs)

    def track(self, body: Any, headers: dict[str, str] | None = None):
        return self.post("/users/track", body, headers=headers)

    def set_attrs(self, *objects: dict[str, Any]) -> None:
        response = self.track({"attributes": list(objects)})
        assert response.status_code == 201, response.get_json()
        assert "errors" not in response.get_json(), response.get_json()

    def users(self, *external_ids: str, **attrs: Any) -> None:
        """Create users with the same attributes."""
        self.set_attrs(*({"external_id": e, **attrs} for e in external_ids))

    def event(self, external_id: str, name: str, when: datetime | None = None, headers: dict[str, str] | None = None,
              **properties: Any):
        obj = {"external_id": external_id, "name": name, "time": iso(when or self.now())}
        if properties:
            obj["properties"] = properties
        response = self.track({"events": [obj]}, headers=headers)
        assert response.status_code == 201, response.get_json()
        return response

    def export(self, *external_ids: str, **body: Any) -> dict[str, Any]:
        response = self.post("/users/export/ids", {"external_ids": list(external_ids), **body})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def profile(self, external_id: str) -> dict[str, Any] | None:
        response = self.client.get(f"/_admin/users/{external_id}")
        return response.get_json() if response.status_code == 200 else None

    def stored(self, external_id: str):
        """The domain profile (for value types that JSON cannot show)."""
        return self.service.users.by_external_id(external_id)

    # -- definitions ----------------------------------------------------------------------------
    def campaign(self, **spec: Any) -> str:
        spec.setdefault("name", "Campaign")
        spec.setdefault("webhook", webhook())
        response = self.client.post("/_admin/campaigns", json=spec)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["campaign_id"]

    def canvas(self, **spec: Any) -> str:
        spec.setdefault("name", "Canvas")
        response = self.client.post("/_admin/canvases", json=spec)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["canvas_id"]

    def campaign_stats(self, campaign_id: str) -> dict[str, Any]:
        return self.client.get(f"/_admin/campaigns/{campaign_id}").get_json()["stats"]

    def canvas_stats(self, canvas_id: str) -> dict[str, Any]:
        return self.client.get(f"/_admin/canvases/{canvas_id}").get_json()["stats"]

    def step_counts(self, canvas_id: str) -> dict[str, dict[str, Any]]:
        return {s["id"]: s for s in self.canvas_stats(canvas_id)["steps"]}

    def journey(self, canvas_id: str, external_id: str):
        return self.client.get(f"/_admin/canvases/{canvas_id}/users/{external_id}")

    def trigger_campaign(self, campaign_id: str, **body: Any):
        return self.post("/campaigns/trigger/send", {"campaign_id": campaign_id, **body})

    def trigger_canvas(self, canvas_id: str, **body: Any):
        return self.post("/canvas/trigger/send", {"canvas_id": canvas_id, **body})

    # -- records ------------------------------------------------------------------------------
    def journal(self, kind: str) -> list[dict[str, Any]]:
        records, _ = self.rt.journal.read(kinds=[kind])
        return [r.to_dict() for r in records]


def recipients(*external_ids: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"external_user_id": e, **extra} for e in external_ids]


def attr_filter(name: str, comparison: str, value: Any) -> dict[str, Any]:
    return {"custom_attribute": {"custom_attribute_name": name, "comparison": comparison, "value": value}}


def after(seconds: float, start: datetime = T0) -> datetime:
    return start + timedelta(seconds=seconds)
