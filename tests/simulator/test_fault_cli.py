"""`bsim fault add|list|clear` against the three services in-process (the CLI's session routed into the apps):
flags become the API's rule, the id comes back in one line, a refused rule is the service's own message with
exit code 2, the table shows each rule's counters, and clear removes one rule or all."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.processes import free_port
from simulator.cli import cli
from simulator.fault_cli import parse_latency, rule_body
from simulator.stack import build

URLS = ["--braze-url", "http://braze.local", "--sendbird-url", "http://sendbird.local",
        "--bridge-url", "http://bridge.local"]


@pytest.fixture
def stack():
    return build()


@pytest.fixture
def bsim(stack):
    session = stack.runtime.transport.session()

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["fault", *args, *URLS], obj={"session": session}, catch_exceptions=False)

    return invoke


def rules_of(stack, service: str) -> list[dict]:
    return getattr(stack, f"{service}_app").extensions["faults"].listing()


def test_add_prints_the_rule_id_alone_and_the_service_holds_the_rule_the_flags_say(bsim, stack):
    result = bsim("add", "sendbird", "--path", "/v1/notifications*", "--method", "post", "--status", "503",
                  "--header", "Retry-After=2", "--after", "5s", "--for", "30s", "--name", "sb-503", "--seed", "9",
                  "--probability", "0.5", "--count", "3")
    assert result.exit_code == 0, result.output
    [rule] = rules_of(stack, "sendbird")
    assert result.output == rule["id"] + "\n"
    assert rule["match"] == {"method": "post", "path": "/v1/notifications*"}
    assert rule["effect"] == {"status": 503, "headers": {"Retry-After": "2"}}
    assert (rule["name"], rule["seed"], rule["probability"], rule["count"]) == ("sb-503", 9, 0.5, 3)
    assert (rule["start"], rule["end"]) == ("2026-01-01T00:00:05Z", "2026-01-01T00:00:35Z")


def test_an_outbound_rule_goes_to_the_calling_service(bsim, stack):
    result = bsim("add", "braze", "--path", "/braze/*", "--outbound", "--host", "bridge.local", "--status", "599")
    assert result.exit_code == 0, result.output
    [rule] = rules_of(stack, "braze")
    assert rule["direction"] == "outbound" and rule["match"] == {"path": "/braze/*", "host": "bridge.local"}


@pytest.mark.parametrize(("text", "latency"), [
    ("200ms", 200), ("1.5s", 1500), ("fixed:20ms", {"distribution": "fixed", "ms": 20}),
    ("uniform:50ms:400ms", {"distribution": "uniform", "min_ms": 50, "max_ms": 400}),
    ("lognormal:100ms:0.5", {"distribution": "lognormal", "median_ms": 100, "sigma": 0.5}),
])
def test_latency_forms_are_the_apis_latency_ms(text, latency):
    assert parse_latency(text) == latency
    assert rule_body(path="/x", latency=text)["effect"] == {"latency_ms": latency}


@pytest.mark.parametrize("service", ["braze", "sendbird", "bridge"])
def test_a_refused_rule_prints_the_services_message_in_one_line_with_exit_code_2(bsim, stack, service):
    result = bsim("add", service, "--path", "/x", "--hang", "--status", "500")
    assert result.exit_code == 2
    assert result.output == f"{service} refused the rule: effect: hang sends no answer, so it takes no status\n"
    assert rules_of(stack, service) == []
    inbound_host = bsim("add", service, "--path", "/x", "--host", "h", "--drop")
    assert inbound_host.exit_code == 2 and inbound_host.output.count("\n") == 1
    assert "match.host is for outbound rules" in inbound_host.output


@pytest.mark.parametrize(("flags", "complaint"), [
    (["--latency", "100"], "not a duration with a unit"),
    (["--latency", "gauss:1ms:2ms"], "uniform:MIN:MAX"),
    (["--header", "Retry-After"], "is not NAME=VALUE"),
    (["--for", "0s", "--status", "503"], "longer than 0 s"),
    (["--after", "soon", "--status", "503"], "not a duration"),
])
def test_malformed_flags_are_refused_before_any_call(bsim, stack, flags, complaint):
    result = bsim("add", "bridge", "--path", "/x", *flags)
    assert result.exit_code == 2 and complaint in result.output
    assert rules_of(stack, "bridge") == []


def test_list_shows_every_services_rules_with_what_they_matched_and_fired(bsim, stack):
    bsim("add", "sendbird", "--path", "/v1/templates*", "--status", "503", "--name", "templates-down")
    bsim("add", "bridge", "--path", "/braze/*", "--latency", "uniform:50ms:400ms", "--probability", "0.5")
    http = stack.runtime.transport.session()
    answers = [http.get("http://sendbird.local/v1/templates", headers={"Api-Token": "local-sendbird-token"})
               for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 503]
    table = bsim("list")
    assert table.exit_code == 0, table.output
    [row] = [line for line in table.output.splitlines() if "templates" in line and "sendbird" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[0] == "sendbird" and cells[2] == "/v1/templates*" and cells[3] == "status 503"
    assert cells[5:] == ["3", "3", "yes"]
    assert "templates-down" in table.output
    assert "latency uniform 50-400 ms, p=0.5" in table.output
    listed = json.loads(bsim("list", "sendbird", "--json").output)
    assert list(listed) == ["sendbird"] and listed["sendbird"][0]["fired"] == 3


def test_list_with_no_rules_says_so(bsim):
    result = bsim("list", "bridge")
    assert result.exit_code == 0 and result.output == "no fault rules on bridge\n"


def test_clear_removes_one_rule_by_id_or_every_rule(bsim, stack):
    keep = bsim("add", "braze", "--path", "/users/track", "--status", "500").output.strip()
    gone = bsim("add", "sendbird", "--path", "/v1/*", "--drop").output.strip()
    bsim("add", "bridge", "--path", "/braze/*", "--status", "429")
    result = bsim("clear", "--id", gone)
    assert result.exit_code == 0 and result.output == f"sendbird: removed {gone}\n"
    assert rules_of(stack, "sendbird") == [] and [r["id"] for r in rules_of(stack, "braze")] == [keep]
    unknown = bsim("clear", "bridge", "--id", "fault-000000000000")
    assert unknown.exit_code == 1 and unknown.output == "no fault rule fault-000000000000 on bridge\n"
    everything = bsim("clear")
    assert everything.exit_code == 0
    assert everything.output.splitlines() == ["braze: removed 1 fault rule", "sendbird: removed 0 fault rules",
                                              "bridge: removed 1 fault rule"]
    assert all(rules_of(stack, s) == [] for s in ("braze", "sendbird", "bridge"))


def test_an_unreachable_service_is_one_line_and_exit_code_3():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    runner = CliRunner()
    for args in (["add", "sendbird", "--path", "/x", "--status", "503", "--sendbird-url", url],
                 ["list", "sendbird", "--sendbird-url", url], ["clear", "sendbird", "--sendbird-url", url]):
        result = runner.invoke(cli, ["fault", *args])
        assert result.exit_code == 3, result.output
        assert result.output.splitlines() == [f"cannot reach the fake Sendbird at {url}: is bsim up running?"]
