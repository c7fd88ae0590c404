"""Export and delete REST routes of the fake Braze: `/users/export/ids`, `/users/export/segment`, `/users/delete`,
`/segments/list`, `/segments/details`, and the download of a segment export (no key, like Braze's
pre-signed storage URL)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from mocks.braze.audience.segment_listing import details, list_page
from mocks.braze.rest import errors
from mocks.braze.rest.api import page_arg, rest_endpoint, rest_json
from mocks.braze.rest.errors import BrazeError, bad_request
from mocks.braze.service import BrazeService
from mocks.braze.users.export import delete_users, export_ids, iso_ms
from mocks.braze.users.segment_export import DOWNLOAD_PATH


def export_blueprint(service: BrazeService) -> Blueprint:
    bp = Blueprint("braze_export", __name__)

    @bp.post("/users/export/ids")
    @rest_endpoint(service, "users.export.ids", "/users/export/ids")
    def users_export_ids():
        return jsonify(export_ids(service.users, service.received, service.runtime.clock.now(), rest_json())), 201

    @bp.post("/users/delete")
    @rest_endpoint(service, "users.delete", "/users/delete")
    def users_delete():
        deleted = delete_users(service.users, service.received, rest_json())
        return jsonify({"deleted": deleted, "message": "success"}), 201

    @bp.post("/users/export/segment")
    @rest_endpoint(service, "users.export.segment", "/users/export/segment")
    def users_export_segment():
        return jsonify(service.segment_exports.start(rest_json(), request.host_url)), 201

    @bp.get("/segments/list")
    @rest_endpoint(service, "segments.list", "/segments/list")
    def segments_list():
        direction = request.args.get("sort_direction", "asc")
        if direction not in ("asc", "desc"):
            raise bad_request(errors.SORT_DIRECTION)
        page = list_page(service.segments.list(), page_arg(), direction == "desc")
        return jsonify({"segments": page, "message": "success"})

    @bp.get("/segments/details")
    @rest_endpoint(service, "segments.details", "/segments/details")
    def segments_details():
        segment_id = request.args.get("segment_id", "")
        segment = service.segments.get(segment_id) if segment_id else None
        if segment is None:
            raise bad_request(errors.SEGMENT_ID_UNKNOWN)
        return jsonify(details(segment, iso_ms))

    @bp.get(f"{DOWNLOAD_PATH}/<name>")
    def segment_export_download(name: str):
        archive = service.segment_exports.archive(name)
        if archive is None:
            raise BrazeError(404, errors.EXPORT_NOT_READY)
        return Response(archive, mimetype="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return bp
