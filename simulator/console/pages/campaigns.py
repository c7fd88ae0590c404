"""The Campaigns and canvases page (being built)."""

from __future__ import annotations

from flask import Blueprint, render_template

ENDPOINT = "campaigns.index"
TITLE = "Campaigns and canvases"


def blueprint(console) -> Blueprint:
    bp = Blueprint("campaigns", __name__)

    @bp.get("/campaigns")
    def index():
        return render_template("error.html", message="Campaigns and canvases: not built yet")

    return bp
