"""`bsim run --live` calls its service URLs under the outbound policy too: a URL the policy refuses is a usage
error before anything is sent, and `--allow-outbound` lets it through (docs/security.md, "Outbound calls")."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from simulator.cli import cli

from .conftest import TEST_NET_1

DEMO = str(Path(__file__).resolve().parents[2] / "scenarios" / "onboarding_demo.yaml")


def test_a_live_run_refuses_a_service_url_beyond_loopback_before_sending_anything(network):
    result = CliRunner().invoke(cli, ["run", DEMO, "--live", "--braze-url", f"http://{TEST_NET_1}:7100"])
    assert result.exit_code == 2, result.output
    assert "--braze-url" in result.output and TEST_NET_1 in result.output and "--allow-outbound" in result.output
    assert network.external == []


def test_a_live_run_refuses_an_allow_list_it_cannot_read(network):
    result = CliRunner().invoke(cli, ["run", DEMO, "--live", "--allow-outbound", "10.0.0.0/33"])
    assert result.exit_code == 2 and "'10.0.0.0/33'" in result.output, result.output


def test_an_allowed_service_url_is_called_under_the_same_policy(network):
    network.expect_external = True  # the test network refuses the connect itself: nothing leaves
    result = CliRunner().invoke(cli, ["run", DEMO, "--live", "--allow-outbound", "192.0.2.0/24",
                                      "--braze-url", f"http://{TEST_NET_1}:7100"])
    assert result.exit_code == 3, result.output  # the run failed: nobody answered at that address
    assert network.external and all(address[0] == TEST_NET_1 for address in network.external)
