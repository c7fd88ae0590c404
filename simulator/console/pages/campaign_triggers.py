"""A console trigger, turned into the Braze REST request a team's backend would make.

The console does not judge what Braze judges: a user id in an odd format, a campaign that is not
API-triggered, more than 50 recipients or trigger properties that are not an object all go to Braze
as given, so the page shows Braze's own answer (its message on a 400) and teaches the real API. The
console only refuses a body it cannot turn into a request at all: who to send to must be said once.

A segment is not a field of `/campaigns/trigger/send`: Braze sends to a segment as a broadcast narrowed
by a connected-audience filter, so the console sends the segment's filter as the request's `audience`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.console.actions import BadInput

# kind -> (Braze path, the id's field, the field trigger properties go in)
ENDPOINTS = {"campaign": ("/campaigns/trigger/send", "campaign_id", "trigger_properties"),
             "canvas": ("/canvas/trigger/send", "canvas_id", "context")}
WHO = ("users", "segment", "broadcast")
FIELDS = (*WHO, "trigger_properties")
SAY_WHO = ('say who, exactly one of: "users" (a list of user ids), "segment" (a segment id) '
           'or "broadcast" (true)')


@dataclass(frozen=True)
class Trigger:
    """Who a console trigger names (one of the three) and its trigger properties, as given."""

    users: list[Any] | None = None
    segment: str | None = None
    broadcast: bool = False
    properties: Any = None


def parse_trigger(body: dict[str, Any]) -> Trigger:
    """The console action's body `{"users": [...]} | {"segment": id} | {"broadcast": true}`, with an optional
    `trigger_properties`; BadInput when who is not said once, or a field is unknown."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise BadInput(f"unknown field {unknown[0]!r}: the fields are {', '.join(FIELDS)}")
    given = [k for k in WHO if body.get(k) is not None]
    if len(given) != 1:
        raise BadInput(SAY_WHO)
    properties = body.get("trigger_properties")
    if given == ["users"]:
        users = body["users"]
        if not isinstance(users, list) or not users:
            raise BadInput('"users" must be a non-empty list of user ids')
        return Trigger(users=list(users), properties=properties)
    if given == ["segment"]:
        segment = body["segment"]
        if not isinstance(segment, str) or not segment.strip():
            raise BadInput('"segment" must be a segment id')
        return Trigger(segment=segment.strip(), properties=properties)
    if body["broadcast"] is not True:
        raise BadInput('"broadcast" must be true (or name "users" or a "segment")')
    return Trigger(broadcast=True, properties=properties)


def recipient(user: Any) -> Any:
    """A user id as a recipient object; an object is taken as a recipient object already (an alias, an email)."""
    return user if isinstance(user, dict) else {"external_user_id": user}


def braze_request(kind: str, object_id: str, trigger: Trigger, segment_filter: Any = None) -> tuple[str, dict]:
    """The path and body of Braze's trigger endpoint for `kind` ("campaign" or "canvas"); `segment_filter` is
    the named segment's filter, read by the caller."""
    path, id_field, properties_field = ENDPOINTS[kind]
    body: dict[str, Any] = {id_field: object_id}
    if trigger.users is not None:
        body["recipients"] = [recipient(u) for u in trigger.users]
    else:
        body["broadcast"] = True
    if trigger.segment is not None:
        body["audience"] = segment_filter
    if trigger.properties is not None:
        body[properties_field] = trigger.properties
    return path, body
