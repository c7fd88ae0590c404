"""The Users page (being built)."""

from __future__ import annotations

from flask import Blueprint, render_template

ENDPOINT = "users.index"
TITLE = "Users"


def blueprint(console) -> Blueprint:
    bp = Blueprint("users", __name__)

    @bp.get("/users")
    def index():
        return render_template("error.html", message="Users: not built yet")

    return bp
