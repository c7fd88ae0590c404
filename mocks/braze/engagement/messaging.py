"""The REST messaging endpoints: `/campaigns/trigger/send`, `/canvas/trigger/send`,
`/messages/send` and `/sends/id/create`, with Braze's limits and messages.

A request is validated whole before anything is sent (a bad recipient fails the request, as a
fatal 400), then each recipient goes through the campaign or canvas like any other entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.runtime import Runtime
from mocks.braze.audience.audiences import AudienceResolver, Predicate
from mocks.braze.audience.segments import SegmentError
from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.delivery.sending import Sender
from mocks.braze.delivery.webhook_templates import TemplateError, parse_content
from mocks.braze.engagement.campaigns import Campaign, CampaignEngine
from mocks.braze.engagement.canvases import CanvasEngine
from mocks.braze.engagement.definitions import ApiTrigger
from mocks.braze.rest import errors
from mocks.braze.rest.errors import bad_request
from mocks.braze.users.profiles import Profile
from mocks.braze.users.track import UserTracker
from mocks.braze.users.values import id_string

MAX_RECIPIENTS = 50
MAX_PROPERTIES_BYTES = 50 * 1024
SEND_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RECIPIENT_IDS = ("external_user_id", "user_alias", "braze_id", "email")
REQUEST_METHODS = ("POST", "PUT", "DELETE", "GET")


@dataclass
class Recipient:
    identifier: tuple[str, Any]
    properties: dict[str, Any]
    send_to_existing_only: bool
    attributes: dict[str, Any] | None


def _object(body: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(errors.MUST_BE_OBJECT.format(name=where + key))
    if len(json.dumps(value, default=str)) > MAX_PROPERTIES_BYTES:
        raise bad_request(errors.PROPERTIES_TOO_LARGE)
    return value


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise bad_request(errors.MUST_BE_BOOLEAN.format(name=key))
    return value


def _identifier(recipient: dict[str, Any], index: int) -> tuple[str, Any]:
    given = [k for k in RECIPIENT_IDS if recipient.get(k) is not None]
    if len(given) != 1:
        raise bad_request(errors.RECIPIENT_ONE_ID.format(index=index, ids=", ".join(RECIPIENT_IDS)))
    kind = given[0]
    value = recipient[kind]
    if kind == "user_alias":
        if not isinstance(value, dict) or not isinstance(value.get("alias_name"), str) \
                or not isinstance(value.get("alias_label"), str):
            raise bad_request(errors.ALIAS_NEEDS_NAME_AND_LABEL.format(where=f"recipients[{index}].user_alias"))
        return kind, (value["alias_name"], value["alias_label"])
    if kind == "external_user_id":
        value = id_string(value)
    if not isinstance(value, str) or not value:
        raise bad_request(errors.RECIPIENT_BAD_ID.format(index=index, kind=kind))
    if kind == "email" and not _prioritization(recipient.get("prioritization")):
        raise bad_request(errors.EMAIL_NEEDS_PRIORITIZATION.format(index=index))
    return kind, value


def _prioritization(value: Any) -> bool:
    """`prioritization` is "required when using email" (`_docs/_api/objects_filters/recipient_object.md`): a
    non-empty array of rules such as "identified", "unidentified", "most_recently_updated"."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def parse_recipients(body: dict[str, Any], props_keys: tuple[str, ...]) -> list[Recipient]:
    raw = body.get("recipients")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request(errors.MUST_BE_ARRAY.format(name="recipients"))
    if len(raw) > MAX_RECIPIENTS:
        raise bad_request(errors.MAX_IDS)
    recipients: dict[tuple[str, Any], Recipient] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise bad_request(errors.RECIPIENT_NOT_OBJECT.format(index=index))
        identifier = _identifier(item, index)
        properties: dict[str, Any] = {}
        for key in props_keys:
            properties = properties or _object(item, key, f"recipients[{index}].")
        existing_only = _bool(item, "send_to_existing_only", True)
        attributes = item.get("attributes")
        if attributes is not None and not isinstance(attributes, dict):
            raise bad_request(errors.MUST_BE_OBJECT.format(name=f"recipients[{index}].attributes"))
        if not existing_only:  # `_docs/_api/objects_filters/recipient_object.md`
            if identifier[0] == "user_alias":
                raise bad_request(errors.EXISTING_ONLY_WITH_ALIAS.format(index=index))
            if identifier[0] != "external_user_id":
                raise bad_request(errors.EXISTING_ONLY_NEEDS_EXTERNAL_ID.format(index=index))
            if attributes is None:
                raise bad_request(errors.ATTRIBUTES_REQUIRED.format(index=index))
        recipients.setdefault(identifier, Recipient(identifier, properties, existing_only, attributes))
    return list(recipients.values())  # duplicate recipients get one message


def both(first: Predicate | None, second: Predicate | None) -> Predicate | None:
    """The request's audience narrowed by the caller's (a scheduled local-time wave's users)."""
    if first is None or second is None:
        return first or second
    return lambda profile, now: first(profile, now) and second(profile, now)


def _request_method(webhook: Any) -> None:
    """`request_method` is "required, one of POST, PUT, DELETE, or GET" on the API's webhook object
    (`_docs/_api/objects_filters/messaging/webhook_object.md`); a campaign definition may leave it out."""
    if not isinstance(webhook, dict):
        return  # parse_content words that
    if webhook.get("request_method") is None:
        raise bad_request(errors.REQUEST_METHOD_REQUIRED)
    if webhook["request_method"] not in REQUEST_METHODS:
        raise bad_request(errors.BAD_REQUEST_METHOD)


class MessagingEndpoints:
    def __init__(self, runtime: Runtime, tracker: UserTracker, audiences: AudienceResolver,
                 campaigns: CampaignEngine, canvases: CanvasEngine, sender: Sender) -> None:
        self.runtime = runtime
        self.tracker = tracker
        self.audiences = audiences
        self.campaigns = campaigns
        self.canvases = canvases
        self.sender = sender
        self.on_send_id: Callable[[str, str, str], None] | None = None  # (campaign_id, send_id, dispatch_id)

    # -- shared -------------------------------------------------------------------------------
    def _audience(self, body: dict[str, Any]) -> Predicate | None:
        if body.get("audience") is None:
            return None
        try:
            return self.audiences.compile_request(body["audience"])
        except SegmentError as exc:
            raise bad_request(errors.INVALID_AUDIENCE.format(reason=exc)) from None

    def _targets(self, body: dict[str, Any], props_keys: tuple[str, ...]) -> tuple[bool, list[Recipient]]:
        if not isinstance(body, dict):
            raise bad_request(errors.NOT_AN_OBJECT)
        broadcast = _bool(body, "broadcast", False)
        recipients = parse_recipients(body, props_keys)
        if broadcast and recipients:
            raise bad_request(errors.BROADCAST_WITH_RECIPIENTS)
        if not broadcast and not recipients:
            raise bad_request(errors.NO_RECIPIENTS)
        return broadcast, recipients

    def _profile(self, recipient: Recipient) -> Profile | None:
        kind, value = recipient.identifier
        users = self.tracker.users
        if kind == "external_user_id":
            profile = users.by_external_id(value)
        elif kind == "user_alias":
            profile = users.by_alias(*value)
        elif kind == "braze_id":
            profile = users.by_braze_id(value)
        else:
            matches = users.by_email(value)
            profile = matches[0] if matches else None
        if recipient.attributes is not None and (profile is not None or not recipient.send_to_existing_only):
            obj = dict(recipient.attributes)
            if kind == "external_user_id":
                obj["external_id"] = value
            elif kind == "user_alias":
                obj["user_alias"] = {"alias_name": value[0], "alias_label": value[1]}
                obj["_update_existing_only"] = recipient.send_to_existing_only
            else:
                obj["braze_id"] = profile.braze_id if profile else None
            self.tracker.track({"attributes": [obj]})  # applied before the send, creating the user if allowed
            profile = self._lookup_again(kind, value, profile)
        return profile

    def _lookup_again(self, kind: str, value: Any, profile: Profile | None) -> Profile | None:
        if profile is not None:
            return profile
        users = self.tracker.users
        return users.by_external_id(value) if kind == "external_user_id" else users.by_alias(*value)

    def _send_id(self, body: dict[str, Any], campaign: Campaign | None) -> None:
        send_id = body.get("send_id")
        if send_id is None:
            return
        if not isinstance(send_id, str) or campaign is None or send_id not in campaign.send_ids:
            raise bad_request(errors.INVALID_SEND_ID)

    def _track_send(self, body: dict[str, Any], campaign: Campaign | None, dispatch_id: str) -> None:
        """Tell the send analytics which dispatch a (validated) `send_id` names, before anything is sent."""
        if campaign is not None and body.get("send_id") is not None and self.on_send_id is not None:
            self.on_send_id(campaign.campaign_id, body["send_id"], dispatch_id)

    # -- endpoints ----------------------------------------------------------------------------
    def trigger_campaign(self, body: Any, *, dispatch_id: str | None = None, dry_run: bool = False,
                         only: Predicate | None = None) -> dict[str, Any]:
        """`dispatch_id`, `dry_run` (validate only) and `only` (a further audience) serve scheduled sends."""
        if not isinstance(body, dict):
            raise bad_request(errors.NOT_AN_OBJECT)
        campaign = self._api_campaign(body.get("campaign_id"))
        broadcast, recipients = self._targets(body, ("trigger_properties",))
        top = _object(body, "trigger_properties")
        extra = both(self._audience(body), only)
        self._send_id(body, campaign)
        dispatch_id = dispatch_id or self.runtime.ids.hex(24)
        response = {"dispatch_id": dispatch_id, "message": "success"}
        if dry_run:
            return response
        self._track_send(body, campaign, dispatch_id)
        if not campaign.active:
            response["notice"] = errors.CAMPAIGN_PAUSED
            return response
        if broadcast:
            self.campaigns.send_audience(campaign, dispatch_id, {"api_trigger_properties": top}, extra)
        for recipient in recipients:
            profile = self._profile(recipient)
            if profile is not None:
                props = {**top, **recipient.properties}
                self.campaigns.send_to(campaign, profile, dispatch_id, {"api_trigger_properties": props}, extra)
        self.runtime.journal.record("braze", "campaign.triggered", None, campaign_id=campaign.campaign_id,
                                    dispatch_id=dispatch_id, recipients=len(recipients), broadcast=broadcast)
        return response

    def _api_campaign(self, campaign_id: Any) -> Campaign:
        if campaign_id is None:
            raise bad_request(errors.REQUIRED.format(name="campaign_id"))
        campaign = self.campaigns.get(campaign_id) if isinstance(campaign_id, str) else None
        if campaign is None or not isinstance(campaign.spec.trigger, ApiTrigger):
            raise bad_request(errors.INVALID_CAMPAIGN_ID)
        return campaign

    def trigger_canvas(self, body: Any, *, dispatch_id: str | None = None, dry_run: bool = False,
                       only: Predicate | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(errors.NOT_AN_OBJECT)
        canvas_id = body.get("canvas_id")
        if canvas_id is None:
            raise bad_request(errors.REQUIRED.format(name="canvas_id"))
        canvas = self.canvases.get(canvas_id) if isinstance(canvas_id, str) else None
        if canvas is None or not isinstance(canvas.spec.entry, ApiTrigger):
            raise bad_request(errors.INVALID_CANVAS_ID)
        broadcast, recipients = self._targets(body, ("context", "canvas_entry_properties"))
        top = _object(body, "context") or _object(body, "canvas_entry_properties")
        extra = both(self._audience(body), only)
        dispatch_id = dispatch_id or self.runtime.ids.hex(24)
        response = {"dispatch_id": dispatch_id, "message": "success"}
        if dry_run:
            return response
        if not canvas.active:
            response["notice"] = errors.CANVAS_PAUSED
            return response
        if broadcast:
            self.canvases.enter_audience(canvas, dispatch_id, top, extra)
        for recipient in recipients:
            profile = self._profile(recipient)
            if profile is not None:
                self.canvases.enter(canvas, profile, dispatch_id, {**top, **recipient.properties}, None, extra)
        self.runtime.journal.record("braze", "canvas.triggered", None, canvas_id=canvas.canvas_id,
                                    dispatch_id=dispatch_id, recipients=len(recipients), broadcast=broadcast)
        return response

    def messages_send(self, body: Any, segments_lookup, *, dispatch_id: str | None = None, dry_run: bool = False,
                      only: Predicate | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(errors.NOT_AN_OBJECT)
        messages = body.get("messages")
        if not isinstance(messages, dict) or not messages:
            raise bad_request(errors.NO_MESSAGE)
        unsupported = sorted(set(messages) - {"webhook"})
        if unsupported:
            raise bad_request(errors.UNSUPPORTED_MESSAGE_TYPES.format(types=", ".join(unsupported)))
        _request_method(messages["webhook"])
        try:
            content = parse_content(messages["webhook"], "messages.webhook")
        except TemplateError as exc:
            raise bad_request(str(exc)) from None
        external_ids = body.get("external_user_ids", [])
        if isinstance(external_ids, list):
            external_ids = [id_string(e) for e in external_ids]
        aliases = body.get("user_aliases", [])
        if not isinstance(external_ids, list) or not all(isinstance(e, str) for e in external_ids):
            raise bad_request(errors.EXTERNAL_USER_IDS_NOT_STRINGS)
        if not isinstance(aliases, list):
            raise bad_request(errors.MUST_BE_ARRAY.format(name="user_aliases"))
        if len(external_ids) > MAX_RECIPIENTS or len(aliases) > MAX_RECIPIENTS:
            raise bad_request(errors.MAX_EXTERNAL_IDS_AND_ALIASES)  # `_docs/_api/errors.md`
        broadcast = _bool(body, "broadcast", False)
        segment_id = body.get("segment_id")
        extra = self._audience(body)
        segment = None
        if segment_id is not None:
            segment = segments_lookup(segment_id) if isinstance(segment_id, str) else None
            if segment is None:
                raise bad_request(errors.INVALID_SEGMENT_ID)
        if not (external_ids or aliases or segment is not None or extra is not None):
            raise bad_request(errors.NO_RECIPIENTS)
        if (segment is not None or extra is not None) and not (external_ids or aliases) and not broadcast:
            raise bad_request(errors.BROADCAST_REQUIRED)
        campaign = None
        if body.get("campaign_id") is not None:
            campaign = self.campaigns.get(body["campaign_id"]) if isinstance(body["campaign_id"], str) else None
            if campaign is None:
                raise bad_request(errors.INVALID_CAMPAIGN_ID)
        self._send_id(body, campaign)
        users = self.tracker.users
        targets: dict[str, Profile] = {}
        for external_id in external_ids:
            profile = users.by_external_id(external_id)
            if profile is not None:
                targets.setdefault(profile.braze_id, profile)
        for index, alias in enumerate(aliases):
            if not isinstance(alias, dict) or not isinstance(alias.get("alias_name"), str) \
                    or not isinstance(alias.get("alias_label"), str):
                raise bad_request(errors.ALIAS_NEEDS_NAME_AND_LABEL.format(where=f"user_aliases[{index}]"))
            profile = users.by_alias(alias["alias_name"], alias["alias_label"])
            if profile is not None:
                targets.setdefault(profile.braze_id, profile)
        now = self.runtime.clock.now()
        if not (external_ids or aliases):
            for profile in users:
                if (segment is None or segment.predicate(profile, now)) and (extra is None or extra(profile, now)):
                    targets.setdefault(profile.braze_id, profile)
        if only is not None:
            targets = {braze_id: p for braze_id, p in targets.items() if only(p, now)}
        dispatch_id = dispatch_id or self.runtime.ids.hex(24)
        if dry_run:  # everything above only reads
            return {"dispatch_id": dispatch_id, "message": "success"}
        self._track_send(body, campaign, dispatch_id)
        campaign_ns = {"api_id": campaign.campaign_id, "name": campaign.name} if campaign else {}
        for profile in targets.values():
            ctx = DeliveryContext(trace_id=self.runtime.ids.hex(16), dispatch_id=dispatch_id,
                                  braze_id=profile.braze_id, external_id=profile.external_id,
                                  campaign_id=campaign.campaign_id if campaign else None,
                                  campaign_name=campaign.name if campaign else None)
            self.runtime.journal.record("braze", "messages.send", ctx.trace_id, dispatch_id=dispatch_id,
                                        braze_id=profile.braze_id, external_id=profile.external_id)
            self.sender.deliver(content, profile, {"campaign": {**campaign_ns, "dispatch_id": dispatch_id}}, ctx)
        return {"dispatch_id": dispatch_id, "message": "success"}

    def create_send_id(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(errors.NOT_AN_OBJECT)
        campaign = self._api_campaign(body.get("campaign_id"))
        send_id = body.get("send_id")
        if send_id is None:
            send_id = self.runtime.ids.hex(16)
        elif not isinstance(send_id, str) or not SEND_ID.match(send_id):
            raise bad_request(errors.BAD_SEND_ID)
        campaign.send_ids.add(send_id)
        return {"message": "success", "send_id": send_id}
