"""The fake Sendbird checks its webhook URL where it is configured (harness.urls): at start and on
`PUT /_admin/webhooks`, with Sendbird's error body."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import HOOK_URL

ROOT = Path(__file__).resolve().parents[2]


def test_the_fake_refuses_to_start_with_a_bad_webhook_url_and_says_so_in_one_line():
    try:
        done = subprocess.run([sys.executable, "-m", "mocks.sendbird", "--port", "0", "--webhook-url", "notaurl"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("python -m mocks.sendbird --webhook-url notaurl did not exit: it started serving")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--webhook-url" in lines[0] and "notaurl" in lines[0], done.stderr


@pytest.mark.parametrize("url", ["notaurl", "ftp://hooks.local/x", "http://u:p@hooks.local/x", "http://hooks.local/#x"])
def test_put_webhooks_refuses_a_bad_url_with_400111_and_keeps_the_old_config(api, url: str):
    assert api.client.put("/_admin/webhooks", json={"url": HOOK_URL}).status_code == 200
    response = api.client.put("/_admin/webhooks", json={"url": url})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] is True and body["code"] == 400111 and '"url"' in body["message"], body
    assert api.client.get("/_admin/webhooks").get_json()["url"] == HOOK_URL


def test_put_webhooks_takes_null_to_switch_webhooks_off(api):
    assert api.client.put("/_admin/webhooks", json={"url": HOOK_URL}).status_code == 200
    response = api.client.put("/_admin/webhooks", json={"url": None})
    assert response.status_code == 200 and response.get_json()["enabled"] is False
