"""The Deliveries page (being built)."""

from __future__ import annotations

from flask import Blueprint, render_template

ENDPOINT = "deliveries.index"
TITLE = "Deliveries"


def blueprint(console) -> Blueprint:
    bp = Blueprint("deliveries", __name__)

    @bp.get("/deliveries")
    def index():
        return render_template("error.html", message="Deliveries: not built yet")

    return bp
