"""`bsim trigger` and `bsim users import` against a stack that is down: one clear line, exit code 3."""

from __future__ import annotations

from click.testing import CliRunner

from harness.processes import free_port
from simulator.cli import UNREACHABLE, cli


def test_trigger_and_import_say_in_one_line_that_braze_is_unreachable(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    csv = tmp_path / "users.csv"
    csv.write_text("external_id\nu1\n")
    runner = CliRunner()
    for args in (["trigger", "campaign", "welcome", "--braze-url", url],
                 ["users", "import", str(csv), "--braze-url", url]):
        result = runner.invoke(cli, args)
        assert result.exit_code == UNREACHABLE == 3, result.output
        assert result.output.splitlines() == [f"cannot reach the fake Braze at {url}: is bsim up running?"]
