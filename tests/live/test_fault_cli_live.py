"""`bsim fault` against a real fake Sendbird (its gateway applies the rules): a status in Sendbird's error body,
a hang the client times out on, a dropped connection, the counters in `bsim fault list`, and `clear`."""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from simulator.cli import cli

pytestmark = pytest.mark.live
SENDBIRD = {"Api-Token": "local-sendbird-token"}


def test_rules_added_on_the_command_line_act_on_a_live_service(live_sendbird):
    url = live_sendbird.url

    def bsim(*args: str):
        return CliRunner().invoke(cli, ["fault", *args, "--sendbird-url", url], catch_exceptions=False)

    added = [bsim("add", "sendbird", "--path", path, *effect).output.strip() for path, effect in (
        ("/v1/templates", ["--status", "503", "--header", "Retry-After=2", "--name", "down"]),
        ("/v3/users/hang-*", ["--hang"]), ("/v3/users/drop-*", ["--drop"]))]
    assert all(rule.startswith("fault-") for rule in added), added
    answer = requests.get(f"{url}/v1/templates", headers=SENDBIRD, timeout=5)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
    assert answer.headers["X-Harness-Fault"] == added[0] and answer.json()["error"] is True
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{url}/v3/users/hang-1", headers=SENDBIRD, timeout=0.5)
    # live, the gateway sends a status line and closes short of the body it declared: requests calls that a
    # ChunkedEncodingError, in-process it is a ConnectionError; either way no answer is read
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.get(f"{url}/v3/users/drop-1", headers=SENDBIRD, timeout=5)
    listed = json.loads(bsim("list", "sendbird", "--json").output)["sendbird"]
    assert [(r["id"], r["matched"], r["fired"]) for r in listed] == [(rule, 1, 1) for rule in added]
    assert bsim("clear", "sendbird").output == "sendbird: removed 3 fault rules\n"
    assert requests.get(f"{url}/v1/templates", headers=SENDBIRD, timeout=5).status_code == 200
