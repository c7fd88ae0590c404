"""Braze's campaign, Canvas and send analytics (`_docs/_api/endpoints/export/campaigns/get_campaign_analytics.md`,
`get_send_analytics.md`, `export/canvas/get_canvas_analytics.md`, `get_canvas_analytics_summary.md`), in the
documented shapes, read from `engagement.series.DataSeries`. The fake sends webhooks only, so `messages` has
the `webhook` channel alone; it tracks no purchases, so `revenue` is 0."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, jsonify, request

from mocks.braze.engagement.series import Day, conversion_fields, total, webhook_stats
from mocks.braze.rest import errors
from mocks.braze.rest.api import rest_endpoint
from mocks.braze.rest.errors import bad_request
from mocks.braze.rest.query import flag_arg, length_arg, time_arg
from mocks.braze.service import BrazeService

MAX_LENGTH = 100
MAX_CANVAS_LENGTH = 14


def day_range(service: BrazeService, limit: int) -> tuple[date, date]:
    last = time_arg("ending_at", service.runtime.clock.now()).date()
    length = length_arg(limit)
    assert length is not None
    return last - timedelta(days=length - 1), last


def campaign_day(when: date, bucket: Day, webhook: list[dict[str, Any]]) -> dict[str, Any]:
    return {"time": when.isoformat(), "messages": {"webhook": webhook}, **conversion_fields(bucket, "send"),
            "unique_recipients": len(bucket.recipients), "revenue": 0.0}


def canvas_totals(bucket: Day) -> dict[str, Any]:
    return {"revenue": 0.0, "conversions": bucket.conversions[0],
            "conversions_by_entry_time": bucket.by_origin_time[0], "entries": bucket.entries}


def series_blueprint(service: BrazeService) -> Blueprint:
    bp = Blueprint("braze_series", __name__)
    series = service.series

    def campaign_arg():
        campaign = service.campaigns.get(request.args.get("campaign_id", ""))
        if campaign is None:
            raise bad_request(errors.INVALID_CAMPAIGN_ID)
        return campaign

    @bp.get("/campaigns/data_series")
    @rest_endpoint(service, "campaigns.data_series", "/campaigns/data_series")
    def campaigns_data_series():
        campaign = campaign_arg()
        first, last = day_range(service, MAX_LENGTH)
        data = [campaign_day(when, bucket, webhook_stats(bucket))
                for when, bucket in series.campaign_days(campaign.campaign_id, first, last)]
        return jsonify({"message": "success", "data": data})

    @bp.get("/sends/data_series")
    @rest_endpoint(service, "sends.data_series", "/sends/data_series")
    def sends_data_series():
        campaign = campaign_arg()
        send_id = request.args.get("send_id")
        if not send_id:
            raise bad_request(errors.SEND_ID_REQUIRED)
        if send_id not in campaign.send_ids:
            raise bad_request(errors.UNKNOWN_SEND_ID)
        first, last = day_range(service, MAX_LENGTH)
        data = []
        for when, bucket in series.send_days(campaign.campaign_id, send_id, first, last):
            variation = {"variation_name": campaign.name, **webhook_stats(bucket)[0], "revenue": 0.0,
                         "unique_recipients": len(bucket.recipients), **conversion_fields(bucket, "send")}
            data.append(campaign_day(when, bucket, [variation]))
        return jsonify({"message": "success", "data": data})

    def canvas_query():
        canvas = service.canvases.get(request.args.get("canvas_id", ""))
        if canvas is None:
            raise bad_request(errors.INVALID_CANVAS_ID)
        ending = time_arg("ending_at", service.runtime.clock.now())
        length = length_arg(MAX_CANVAS_LENGTH, required=False)
        if length is not None:
            first = ending.date() - timedelta(days=length - 1)
        elif request.args.get("starting_at"):
            first = time_arg("starting_at").date()
            if first > ending.date():
                raise bad_request(errors.SERIES_START_AFTER_END)
        else:
            raise bad_request(errors.SERIES_LENGTH_OR_START)
        flags = {name: flag_arg(f"include_{name}") for name in ("variant_breakdown", "step_breakdown",
                                                                 "deleted_step_data")}
        return canvas, first, ending.date(), flags

    def breakdowns(canvas, bucket: Day, steps: dict[str, Day], flags: dict[str, bool]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if flags["variant_breakdown"]:  # the fake's Canvas has one variant, the Canvas itself (see /canvas/details)
            out["variant_stats"] = {canvas.canvas_id: {"name": canvas.name, **canvas_totals(bucket)}}
        if flags["step_breakdown"]:
            out["step_stats"] = {
                step_id: {"name": canvas.steps[step_id].name if step_id in canvas.steps
                          else series.step_name(canvas.canvas_id, step_id),
                          "revenue": 0.0, "conversions": step.conversions[0],
                          "conversions_by_entry_time": step.by_origin_time[0],
                          "messages": {"webhook": webhook_stats(step)}}
                for step_id, step in steps.items() if step_id in canvas.steps or flags["deleted_step_data"]}
        return out

    @bp.get("/canvas/data_series")
    @rest_endpoint(service, "canvas.data_series", "/canvas/data_series")
    def canvas_data_series():
        canvas, first, last, flags = canvas_query()
        steps = series.step_days(canvas.canvas_id, first, last)
        stats = []
        for i, (when, bucket) in enumerate(series.canvas_days(canvas.canvas_id, first, last)):
            day_steps = {step_id: days[i][1] for step_id, days in steps.items()}
            stats.append({"time": when.isoformat(), "total_stats": canvas_totals(bucket),
                          **breakdowns(canvas, bucket, day_steps, flags)})
        return jsonify({"data": {"name": canvas.name, "stats": stats}, "message": "success"})

    @bp.get("/canvas/data_summary")
    @rest_endpoint(service, "canvas.data_summary", "/canvas/data_summary")
    def canvas_data_summary():
        canvas, first, last, flags = canvas_query()
        rollup = total(series.canvas_days(canvas.canvas_id, first, last))
        steps = {step_id: total(days) for step_id, days in series.step_days(canvas.canvas_id, first, last).items()}
        parts = breakdowns(canvas, rollup, steps, flags)
        for variant in parts.get("variant_stats", {}).values():  # get_canvas_analytics_summary.md: a summary's
            del variant["conversions_by_entry_time"]  # variant has name, revenue, conversions, entries only
        return jsonify({"data": {"name": canvas.name, "total_stats": canvas_totals(rollup), **parts},
                        "message": "success"})

    return bp
