"""The harness's pytest plugin, registered through the `pytest11` entry point: installing the package is enough.

Fixtures:
- `fake_braze`, `fake_sendbird`, `fake_stack`: the in-process mocks (`mocks.inprocess`), a fresh world per test;
  `@pytest.mark.fakes(...)` passes options to them (`app_id=`, `api_key=`, `start=`, `event_callback=`, ...);
- `live_stack`: the three services as real servers on ephemeral ports, started once per session (per xdist
  worker) and reset before every test; `live_servers` is the session's servers themselves (their URLs and logs).
The fakes' `assert_*` helpers are the assertions: their failures say what was expected and what the user got.
Everything heavy is imported when a fixture is first used, so the plugin costs a test run that uses none of them
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

MARKER = "fakes"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(**options): options for the fake_braze, fake_sendbird and "
                                       "fake_stack fixtures (see docs/testing-your-code.md)")


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    return dict(marker.kwargs) if marker is not None else {}


@pytest.fixture
def fake_braze(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The fake Braze in-process, at every Braze REST instance's host (`FakeBraze`)."""
    from mocks.inprocess import mock_braze

    with mock_braze(**_options(request)) as braze:
        yield braze


@pytest.fixture
def fake_sendbird(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The fake Sendbird in-process, at its application's hosts (`FakeSendbird`)."""
    from mocks.inprocess import mock_sendbird

    with mock_sendbird(**_options(request)) as sendbird:
        yield sendbird


@pytest.fixture
def fake_stack(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Both fakes and the bridge in-process (`FakeStack`): SENT and READ come back to Braze."""
    from mocks.inprocess import mock_stack

    with mock_stack(**_options(request)) as stack:
        yield stack


@pytest.fixture(scope="session")
def live_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The fake Braze, the fake Sendbird and the bridge as processes on ephemeral loopback ports, for the session."""
    from mocks.live import LiveServers

    servers = LiveServers(tmp_path_factory.mktemp("live_stack")).start()
    yield servers
    servers.stop()


@pytest.fixture
def live_stack(live_servers: Any) -> Any:
    """The live servers, emptied for this test (`FakeStack` over HTTP; its URLs are `braze.url`, `sendbird.url`)."""
    live_servers.reset()
    return live_servers.stack()
