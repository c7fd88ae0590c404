"""Outbound URLs are checked where they are configured (docs/bridge.md, "Configured URLs"): a URL `requests`
cannot call would otherwise fail later, inside a send or a callback, where nobody sees it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.app import create_app

from .conftest import ROOT, Stack, assert_error_shape, sim_runtime_with_real_http, webhook_body

BAD_URLS = ["notaurl", "ftp://sendbird.local", "http://user:pw@sendbird.local", "http://sendbird.local/#x",
            "http://sendbird.local:99999"]


@pytest.mark.parametrize("flag", ["--sendbird-url", "--braze-url"])
def test_the_bridge_refuses_to_start_with_a_bad_url_and_says_so_in_one_line(flag: str, tmp_path: Path):
    db = tmp_path / "bridge.sqlite3"
    try:
        done = subprocess.run([sys.executable, "-m", "bridge", "--port", "0", flag, "notaurl", "--db", str(db)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -m bridge {flag} notaurl did not exit: it started serving")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert flag in lines[0] and "notaurl" in lines[0] and "scheme" in lines[0], lines


@pytest.mark.parametrize("url", BAD_URLS)
def test_put_integration_refuses_a_bad_braze_endpoint_with_400_and_keeps_the_old_one(stack: Stack, url: str):
    before = stack.bridge_client.get("/_admin/integration").get_json()["braze_rest_endpoint"]
    response = stack.bridge_client.put("/_admin/integration", json={"braze_rest_endpoint": url})
    assert_error_shape(response, 400, 400111, "braze_rest_endpoint")
    assert stack.bridge_client.get("/_admin/integration").get_json()["braze_rest_endpoint"] == before
    stack.post("realtime", webhook_body("m1", "ada"))  # callbacks still go to the old endpoint
    stack.run()
    assert [e["properties"]["status"] for e in stack.braze_events()] == ["SENT"]


def test_put_integration_stores_the_endpoint_normalised(stack: Stack):
    response = stack.bridge_client.put("/_admin/integration", json={"braze_rest_endpoint": "HTTP://Braze.LOCAL/"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["braze_rest_endpoint"] == "http://braze.local/"


@pytest.mark.parametrize("option", ["sendbird_url", "braze_url"])
def test_create_app_refuses_a_bad_url(option: str):
    runtime = sim_runtime_with_real_http()
    try:
        with pytest.raises(ValueError, match="notaurl"):
            create_app(runtime, db=":memory:", **{option: "notaurl"})
    finally:
        runtime.close()
