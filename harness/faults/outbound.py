"""Fault rules on a service's own calls: the fault the caller would meet on the network.

The fake Braze's webhook to the bridge failing with a connection error (Braze's 599) is a fault of the
path between them, not of the bridge; so an outbound rule acts in the calling service's transport, ahead of
its adapter (in-process or real HTTP alike):
- `drop`, or status 599: `requests.ConnectionError`, as an unreachable host;
- `hang`: `requests.ReadTimeout` at once. The wait is not spent: a synchronous caller could only spend it
  holding its thread, so a rule that must cost time goes on the service that answers (an inbound rule);
- another status: an answer with that status and the rule's headers, synthesised; the call is not made;
- `malformed`: the call is made and its answer breaks off (`requests.exceptions.ChunkedEncodingError`, as a
  connection broken mid-answer reads), so the caller cannot know whether it took effect.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from harness.faults.inbound import FAULT_HEADER, NoAnswer
from harness.faults.rules import FaultRules, Subject

CONNECTION_ERROR = 599  # what Braze's activity log calls a connection error; no server answers it


class FaultingAdapter(BaseAdapter):
    def __init__(self, inner: BaseAdapter, rules: FaultRules) -> None:
        super().__init__()
        self.inner = inner
        self.rules = rules

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if not self.rules.has_outbound:
            return self.inner.send(request, *args, **kwargs)
        url = urlsplit(request.url or "")
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode("utf-8") \
            if isinstance(request.body, str | type(None)) else b""
        subject = Subject(request.method or "GET", url.path or "/", host=url.hostname or "", body=body,
                          query=url.query)
        firing = self.rules.decide("outbound", subject, request.headers.get("X-Trace-Id"))
        if firing is None:
            return self.inner.send(request, *args, **kwargs)
        if firing.kind == "drop" or (firing.kind == "status" and firing.status == CONNECTION_ERROR):
            raise requests.ConnectionError(str(NoAnswer("drop", firing.rule.id)), request=request)
        if firing.kind == "hang":
            raise requests.ReadTimeout(str(NoAnswer("hang", firing.rule.id)), request=request)
        if firing.kind == "status":
            return _answer(request, firing.status or 500, firing.headers,
                           f"fault rule {firing.rule.id}: {firing.status}".encode(), firing.rule.id)
        response = self.inner.send(request, *args, **kwargs)  # malformed: the call is made, its answer cut
        response.close()
        raise requests.exceptions.ChunkedEncodingError(
            f"Connection broken: IncompleteRead (fault rule {firing.rule.id})", request=request)

    def close(self) -> None:
        self.inner.close()


def _answer(request: requests.PreparedRequest, status: int, headers: dict[str, str], body: bytes,
            rule: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = "Fault"
    response.headers = CaseInsensitiveDict({"Content-Type": "text/plain", "Content-Length": str(len(body)),
                                            FAULT_HEADER: rule, **headers})
    response._content = body
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    return response
