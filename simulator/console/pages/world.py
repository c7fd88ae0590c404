"""The Clock and world page (being built)."""

from __future__ import annotations

from flask import Blueprint, render_template

ENDPOINT = "world.index"
TITLE = "Clock and world"


def blueprint(console) -> Blueprint:
    bp = Blueprint("world", __name__)

    @bp.get("/world")
    def index():
        return render_template("error.html", message="Clock and world: not built yet")

    return bp
