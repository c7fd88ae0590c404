"""How the console reaches the stack: the three services' admin APIs and product APIs, server-side.

The browser never calls a service: it would need the services' credentials and admin token, and the
services refuse other origins' admin requests anyway. The console holds both and calls with one pooled
`requests` session. A service that is down or answers an error becomes a `StackError` naming the call,
which a page shows in place of its data (the rest of the page still renders).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from harness.admin_client import send_admin_token
from simulator.runner import Endpoints

SERVICES = ("braze", "sendbird", "bridge")
TIMEOUT = 5.0


class StackError(RuntimeError):
    """A call to a service that did not answer as it should: what was called and what came back."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass
class Answer:
    status: int
    body: Any


class StackClient:
    def __init__(self, ends: Endpoints, timeout: float = TIMEOUT, session: requests.Session | None = None) -> None:
        self.ends = ends
        self.timeout = timeout
        self.http = send_admin_token(session or requests.Session(), ends.admin_token)
        self.urls = ends.services()

    # -- the calls -------------------------------------------------------------------------------------
    def call(self, service: str, method: str, path: str, *, json: Any = None, params: Any = None,
             headers: dict[str, str] | None = None, data: bytes | None = None,
             ok: tuple[int, ...] = (200, 201)) -> Answer:
        url = self.urls[service] + path
        try:
            response = self.http.request(method, url, json=json, params=params, headers=headers, data=data,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise StackError(f"{service} did not answer {method} {path}: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code not in ok:
            said = body.get("message") if isinstance(body, dict) else None
            raise StackError(f"{service} answered {response.status_code} to {method} {path}"
                             + (f": {said}" if said else ""), response.status_code, body)
        return Answer(response.status_code, body)

    def admin(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        """An admin call (`path` after `/_admin`); its JSON body."""
        return self.call(service, method, "/_admin" + path, **kwargs).body

    def braze_rest(self, method: str, path: str, body: Any) -> Answer:
        """A Braze REST call with the stack's API key, as a team's backend makes it; its answer, whatever
        the status (Braze's own error body is what the page shows)."""
        return self.call("braze", method, path, json=body, headers={"Authorization": f"Bearer {self.ends.braze_key}"},
                         ok=tuple(range(200, 600)))

    def sendbird_api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A Sendbird platform API call with the stack's Api-Token."""
        return self.call("sendbird", method, path, headers={"Api-Token": self.ends.sendbird_token}, **kwargs).body

    # -- what several pages read --------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Each service's `/_admin/health`, or `{"status": "down", "error": ...}` for one that does not answer."""
        out = {}
        for name in SERVICES:
            try:
                out[name] = self.admin(name, "GET", "/health")
            except StackError as exc:
                out[name] = {"status": "down", "error": str(exc)}
        return out

    def journal(self, service: str, since: str | None, limit: int, **filters: Any) -> dict[str, Any]:
        """A page of `service`'s own records (in one process the three share a journal: the filter keeps
        each service's records read once)."""
        params = {"limit": limit, "service": service, **({"since": since} if since else {}), **filters}
        return self.admin(service, "GET", "/journal", params=params)

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """Every journal record of one trace id, from the three services, in time order."""
        records = []
        for name in SERVICES:
            records += self.journal(name, None, 10_000, trace_id=trace_id)["records"]
        return sorted(records, key=lambda r: (r.get("ts") or "", r.get("service") or "", r.get("seq") or 0))

    @staticmethod
    def path(*parts: str) -> str:
        return "/" + "/".join(quote(str(p), safe="") for p in parts)
