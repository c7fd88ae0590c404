"""The Bridge page (being built)."""

from __future__ import annotations

from flask import Blueprint, render_template

ENDPOINT = "bridge.index"
TITLE = "Bridge"


def blueprint(console) -> Blueprint:
    bp = Blueprint("bridge", __name__)

    @bp.get("/bridge")
    def index():
        return render_template("error.html", message="Bridge: not built yet")

    return bp
