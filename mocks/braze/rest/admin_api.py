"""The harness's admin API for the fake Braze (`/_admin/...`, no REST key: `harness.admin_guard` decides who
may call it): what the dashboard does in real Braze. API keys, CSV import, segments, webhook templates,
campaigns, canvases, the Message Activity Log, a Currents export and rate limits.

Answers mask credentials (`harness.masking`): API keys, and the values a webhook's headers or placeholders
hold under a credential's name (`Authorization`, `Api-Token`, `SENDBIRD_API_TOKEN`), unless the value is
Liquid or a template placeholder, which only say where the secret comes from. What is stored and sent is
the clear value; `GET /_admin/secrets` answers the API keys in clear."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError

from harness import strict_json
from harness.admin_guard import accepts_body
from harness.limits import MIB, within_budget
from harness.masking import mask, mask_credentials
from harness.ratelimit import limit_table_routes
from mocks.braze.audience.event_filters import FilterError
from mocks.braze.audience.segments import DuplicateSegmentError, SegmentError
from mocks.braze.delivery.webhook_templates import TemplateError
from mocks.braze.engagement.definitions import CampaignSpec, CanvasSpec
from mocks.braze.rest import errors
from mocks.braze.rest.errors import BrazeError, bad_request
from mocks.braze.service import DEFAULT_LIMITS, BrazeService
from mocks.braze.users.csv_import import import_csv
from mocks.braze.users.export import EXPORT_FIELDS, export_profile
from mocks.braze.users.profiles import Profile

LIMIT_KEYS = tuple(DEFAULT_LIMITS)
MAX_DEPTH = 64  # far deeper than any definition needs; a tree near the parser's limit breaks copying and encoding
DEFINITION_ERRORS = (SegmentError, DuplicateSegmentError, TemplateError, FilterError, ValueError)
USERS_PAGE_BUDGET = 8 * MIB  # a profile's fields are bounded, their number is not: 1,000 of them could be huge
MAX_QUERY = 200  # characters of a `?q=` search: longer than any id, email or name a profile can match


def _json() -> Any:
    """An admin body: strict JSON (NaN and Infinity are not JSON, and could not be answered back as JSON),
    at most MAX_DEPTH containers deep, since definitions are stored, copied and echoed whole."""
    raw = request.get_data(cache=False)
    try:
        body = strict_json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request(errors.INVALID_JSON) from None
    if _deeper_than(body, MAX_DEPTH):
        raise bad_request(errors.INVALID_JSON_TOO_DEEP.format(depth=MAX_DEPTH))
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` lists and objects, found without recursing."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def _validation_error(exc: ValidationError) -> BrazeError:
    details = [{"loc": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors(include_url=False)]
    first = details[0]
    return bad_request(errors.INVALID_DEFINITION.format(loc=first["loc"] or "body", reason=first["message"]), details)


def _is_liquid(value: str) -> bool:
    return "{{" in value or "{%" in value


def masked_webhook(webhook: Any) -> Any:
    """A message's webhook as answered: credentials in its headers and placeholder values masked."""
    if not isinstance(webhook, dict):
        return webhook
    return {**webhook, **{part: mask_credentials(webhook[part], keep=_is_liquid) for part in ("headers", "replace")
                          if isinstance(webhook.get(part), dict)}}


def _template_view(template) -> dict[str, Any]:
    view = template.to_dict()
    placeholders = view["placeholders"]
    view["headers"] = mask_credentials(view["headers"], keep=lambda v: _is_liquid(v) or v in placeholders)
    return view


def masked_keys(listing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**entry, "key": mask(entry["key"])} for entry in listing]


def _profile_by_any(service: BrazeService, key: str) -> Profile | None:
    return service.users.by_external_id(key) or service.users.by_braze_id(key)


def matches_query(profile: Profile, needle: str) -> bool:
    """Whether a profile is what a person searching `needle` (casefolded) means: a part of its external id, email
    or name in any case, or its whole braze_id (a random hex id: a part of one matches nobody in particular)."""
    a = profile.attributes
    return profile.braze_id == needle or any(
        isinstance(value, str) and needle in value.casefold()
        for value in (profile.external_id, a.get("email"), a.get("first_name"), a.get("last_name")))


def admin_api_blueprint(service: BrazeService) -> Blueprint:
    bp = Blueprint("braze_admin_api", __name__, url_prefix="/_admin")

    @bp.post("/api_keys")
    def add_key():
        body = _json()
        key, permissions = (body.get("key"), body.get("permissions")) if isinstance(body, dict) else (None, None)
        if not isinstance(key, str) or not isinstance(permissions, list) \
                or not all(isinstance(p, str) for p in permissions):
            raise bad_request(errors.BAD_KEY_BODY)
        try:
            service.keys.add(key, permissions)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        return jsonify({"key": mask(key), "permissions": sorted(permissions)}), 201

    @bp.get("/api_keys")
    def list_keys():
        return jsonify({"api_keys": masked_keys(service.keys.listing())})

    # -- users ----------------------------------------------------------------------------------
    @bp.post("/users/import")
    @accepts_body("text/csv")
    def users_import():
        report = import_csv(service.tracker, request.get_data(cache=False))
        return jsonify(report.to_dict()), 201

    @bp.get("/users")
    def users_list():
        try:
            offset = max(0, int(request.args.get("offset", 0)))
            limit = max(1, min(int(request.args.get("limit", 100)), 1000))
        except ValueError:
            raise bad_request(errors.BAD_OFFSET_LIMIT) from None
        query = request.args.get("q", "").strip()
        if len(query) > MAX_QUERY:
            raise bad_request(errors.QUERY_TOO_LONG.format(limit=MAX_QUERY))
        profiles = list(service.users.profiles.values())
        if query:
            needle = query.casefold()
            profiles = [p for p in profiles if matches_query(p, needle)]
        total = len(profiles)
        profiles = profiles[offset:offset + limit]
        fields = frozenset(EXPORT_FIELDS)
        # a page also stops at USERS_PAGE_BUDGET: read on at offset + len(users) (docs/security.md, "Limits")
        users, _ = within_budget(profiles, lambda p: current_app.json.dumps(export_profile(p, fields)),
                                 USERS_PAGE_BUDGET)
        return Response(f'{{"total":{total},"users":[{",".join(users)}]}}\n', mimetype="application/json")

    @bp.get("/users/<key>")
    def user_get(key: str):
        profile = _profile_by_any(service, key)
        if profile is None:
            raise BrazeError(404, errors.NO_USER.format(key=key))
        # with what the user received, of all time: the console's profile view, which must not spend the REST
        # export's rate limit (250 a minute) that the team's own backend is tested against
        return jsonify(export_profile(profile, frozenset(EXPORT_FIELDS), service.received))

    # -- segments -------------------------------------------------------------------------------
    @bp.post("/segments")
    def segment_create():
        body = _json()
        if not isinstance(body, dict):
            raise bad_request(errors.BAD_SEGMENT_BODY)
        try:
            segment = service.segments.create(body.get("name"), body.get("filter"))
        except DEFINITION_ERRORS as exc:
            raise bad_request(str(exc)) from None
        return jsonify(_segment(segment)), 201

    @bp.get("/segments")
    def segment_list():
        return jsonify({"segments": [_segment(s) for s in service.segments.list()]})

    @bp.get("/segments/<key>")
    def segment_get(key: str):
        segment = service.segments.get(key)
        if segment is None:
            raise BrazeError(404, errors.NO_SEGMENT.format(key=key))
        members = segment.members(service.users, service.runtime.clock.now())
        ids = [p.external_id or p.braze_id for p in members]
        return jsonify({**_segment(segment), "size": len(members),
                        **({"members": ids} if request.args.get("members") == "true" else {"sample": ids[:20]})})

    @bp.delete("/segments/<key>")
    def segment_delete(key: str):
        if not service.segments.delete(key):
            raise BrazeError(404, errors.NO_SEGMENT.format(key=key))
        return jsonify({"deleted": key})

    # -- webhook templates ------------------------------------------------------------------------
    @bp.post("/webhook_templates")
    def template_create():
        body = _json()
        if not isinstance(body, dict):
            raise bad_request(errors.BAD_TEMPLATE_BODY)
        template_id = body.get("template_id") or service.runtime.ids.uuid()
        if not isinstance(template_id, str):
            raise bad_request(errors.MUST_BE_STRING.format(name="template_id"))
        try:
            template = service.templates.create(template_id, body)
        except TemplateError as exc:
            raise bad_request(str(exc)) from None
        return jsonify(_template_view(template)), 201

    @bp.get("/webhook_templates")
    def template_list():
        return jsonify({"templates": [_template_view(t) for t in service.templates.list()]})

    @bp.get("/webhook_templates/<template_id>")
    def template_get(template_id: str):
        try:
            return jsonify(_template_view(service.templates.get(template_id)))
        except TemplateError as exc:
            raise BrazeError(404, str(exc)) from None

    @bp.delete("/webhook_templates/<template_id>")
    def template_delete(template_id: str):
        try:
            service.templates.delete(template_id)
        except TemplateError as exc:
            raise BrazeError(404, str(exc)) from None
        return jsonify({"deleted": template_id})

    # -- campaigns and canvases -------------------------------------------------------------------
    def _save(model, engine, body: Any, object_id: str | None = None):
        try:
            spec = model.model_validate(body)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        try:
            return engine.save(spec, object_id)
        except DEFINITION_ERRORS as exc:
            raise bad_request(str(exc)) from None

    def _campaign_view(campaign) -> dict:
        definition = campaign.spec.model_dump(mode="json")
        definition["webhook"] = masked_webhook(definition["webhook"])
        return {"campaign_id": campaign.campaign_id, "definition": definition,
                "stats": service.campaigns.stats(campaign),
                "next_run": campaign.next_run.isoformat() if campaign.next_run else None}

    @bp.post("/campaigns")
    def campaign_create():
        return jsonify(_campaign_view(_save(CampaignSpec, service.campaigns, _json()))), 201

    @bp.get("/campaigns")
    def campaign_list():
        return jsonify({"campaigns": [_campaign_view(c) for c in service.campaigns.campaigns.values()]})

    @bp.get("/campaigns/<campaign_id>")
    def campaign_get(campaign_id: str):
        campaign = service.campaigns.get(campaign_id)
        if campaign is None:
            raise BrazeError(404, errors.NO_CAMPAIGN.format(key=campaign_id))
        return jsonify(_campaign_view(campaign))

    @bp.put("/campaigns/<campaign_id>")
    def campaign_put(campaign_id: str):
        return jsonify(_campaign_view(_save(CampaignSpec, service.campaigns, _json(), campaign_id)))

    @bp.delete("/campaigns/<campaign_id>")
    def campaign_delete(campaign_id: str):
        if not service.campaigns.delete(campaign_id):
            raise BrazeError(404, errors.NO_CAMPAIGN.format(key=campaign_id))
        return jsonify({"deleted": campaign_id})

    def _canvas_view(canvas) -> dict:
        definition = canvas.spec.model_dump(mode="json")
        definition["steps"] = [{**step, "webhook": masked_webhook(step["webhook"])} if "webhook" in step else step
                               for step in definition["steps"]]
        return {"canvas_id": canvas.canvas_id, "definition": definition,
                "stats": service.canvases.stats(canvas)}

    @bp.post("/canvases")
    def canvas_create():
        return jsonify(_canvas_view(_save(CanvasSpec, service.canvases, _json()))), 201

    @bp.get("/canvases")
    def canvas_list():
        return jsonify({"canvases": [_canvas_view(c) for c in service.canvases.canvases.values()]})

    @bp.get("/canvases/<canvas_id>")
    def canvas_get(canvas_id: str):
        canvas = service.canvases.get(canvas_id)
        if canvas is None:
            raise BrazeError(404, errors.NO_CANVAS.format(key=canvas_id))
        return jsonify(_canvas_view(canvas))

    @bp.put("/canvases/<canvas_id>")
    def canvas_put(canvas_id: str):
        return jsonify(_canvas_view(_save(CanvasSpec, service.canvases, _json(), canvas_id)))

    @bp.delete("/canvases/<canvas_id>")
    def canvas_delete(canvas_id: str):
        if not service.canvases.delete(canvas_id):
            raise BrazeError(404, errors.NO_CANVAS.format(key=canvas_id))
        return jsonify({"deleted": canvas_id})

    @bp.get("/canvases/<canvas_id>/users/<key>")
    def canvas_user_path(canvas_id: str, key: str):
        canvas = service.canvases.get(canvas_id)
        profile = _profile_by_any(service, key)
        journey = canvas.journeys.get(profile.braze_id) if canvas and profile else None
        if journey is None:
            raise BrazeError(404, errors.NOT_IN_CANVAS.format(key=key, canvas_id=canvas_id))
        return jsonify(journey.to_dict())

    # -- delivery records ---------------------------------------------------------------------------
    @bp.get("/activity_log")
    def activity_log():
        entries = service.dispatcher.activity_log
        try:
            limit = int(request.args.get("limit", 1000))
        except ValueError:
            raise bad_request(errors.BAD_LIMIT) from None
        return jsonify({"total": len(entries), "entries": entries[-limit:] if limit > 0 else []})

    @bp.get("/currents")
    def currents():
        return Response(service.dispatcher.currents_ndjson(), mimetype="application/x-ndjson")

    limit_table_routes(bp, service.limiter, LIMIT_KEYS, _json, bad_request)

    return bp


def _segment(segment) -> dict:
    return {"id": segment.segment_id, "name": segment.name, "filter": segment.filter}
