"""Settings from flags, environment and defaults, built from a pydantic model."""

from __future__ import annotations

import sys

import pytest
from pydantic import BaseModel, Field

from harness.settings import env_name, load_settings


class Demo(BaseModel):
    """A demo service."""

    app_id: str = Field("default-app", description="the application id")
    port: int = 8080
    verbose: bool = False
    api_token: str | None = None


class WithOptionalBool(BaseModel):
    enabled: bool | None = None


def load(argv: list[str] | None = None, env: dict[str, str] | None = None, prefix: str = "SB_") -> Demo:
    return load_settings(Demo, argv=argv or [], env=env or {}, env_prefix=prefix)


def test_defaults() -> None:
    assert load() == Demo(app_id="default-app", port=8080, verbose=False, api_token=None)


def test_env_beats_defaults() -> None:
    settings = load(env={"SB_APP_ID": "env-app", "SB_PORT": "9000", "SB_VERBOSE": "true", "SB_API_TOKEN": "tok"})
    assert settings == Demo(app_id="env-app", port=9000, verbose=True, api_token="tok")


def test_flags_beat_env() -> None:
    env = {"SB_APP_ID": "env-app", "SB_PORT": "9000", "SB_VERBOSE": "true", "SB_API_TOKEN": "env-tok"}
    settings = load(["--app-id", "flag-app", "--port", "9100", "--no-verbose"], env)
    assert settings == Demo(app_id="flag-app", port=9100, verbose=False, api_token="env-tok")


def test_flags_beat_defaults_field_by_field() -> None:
    settings = load(["--port", "1"], {"SB_APP_ID": "env-app"})
    assert (settings.app_id, settings.port, settings.verbose) == ("env-app", 1, False)


def test_flag_names_use_dashes() -> None:
    assert load(["--app-id", "x"]).app_id == "x"
    assert load(["--api-token=secret"]).api_token == "secret"
    with pytest.raises(SystemExit):
        load(["--app_id", "x"])


def test_bool_flags() -> None:
    assert load(["--verbose"]).verbose is True
    assert load(["--no-verbose"]).verbose is False
    assert load(["--verbose"], {"SB_VERBOSE": "false"}).verbose is True
    assert load(["--no-verbose"], {"SB_VERBOSE": "true"}).verbose is False
    assert load([], {"SB_VERBOSE": "1"}).verbose is True
    with pytest.raises(SystemExit):
        load(["--verbose", "yes"])  # a bool flag takes no value


def test_optional_bool_is_a_bool_flag() -> None:
    assert load_settings(WithOptionalBool, argv=[], env={}).enabled is None
    assert load_settings(WithOptionalBool, argv=["--enabled"], env={}).enabled is True
    assert load_settings(WithOptionalBool, argv=["--no-enabled"], env={}).enabled is False


def test_env_names() -> None:
    assert env_name("SB_", "app_id") == "SB_APP_ID"
    assert env_name("bsim_", "port") == "BSIM_PORT"
    assert env_name("", "api_token") == "API_TOKEN"


def test_env_uses_exactly_prefix_plus_field() -> None:
    assert load(env={"PORT": "1", "SB_port": "2", "XSB_PORT": "3"}).port == 8080
    assert load(env={"PORT": "1"}, prefix="").port == 1


@pytest.mark.parametrize(("argv", "env"), [
    (["--port", "eighty"], {}),
    ([], {"SB_PORT": "eighty"}),
    ([], {"SB_VERBOSE": "maybe"}),
])
def test_invalid_values_exit_via_parser_error(argv: list[str], env: dict[str, str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        load(argv, env)
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert "port" in err or "verbose" in err


def test_help_mentions_env_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        load_settings(Demo, argv=["--help"], env={}, env_prefix="SB_", prog="demo")
    assert excinfo.value.code == 0
    out = capsys.readouterr().out
    assert "--app-id" in out
    assert "[env SB_APP_ID]" in out
    assert "the application id" in out
    assert "--verbose, --no-verbose" in out
    assert "A demo service." in out


def test_defaults_to_process_argv_and_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["demo", "--port", "7001"])
    monkeypatch.setenv("ZZTEST_APP_ID", "from-os-env")
    monkeypatch.setenv("ZZTEST_PORT", "1")
    settings = load_settings(Demo, env_prefix="ZZTEST_")
    assert (settings.app_id, settings.port) == ("from-os-env", 7001)




def test_an_invalid_value_is_one_line_naming_the_flag_and_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load(["--port", "eighty"], {"SB_VERBOSE": "maybe"})
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert ": error: " in last
    assert "--port (or SB_PORT): Input should be a valid integer" in last and "(got 'eighty')" in last
    assert "--verbose (or SB_VERBOSE)" in last and "errors.pydantic.dev" not in last
