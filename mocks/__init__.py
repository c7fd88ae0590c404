"""The two fakes (`mocks.braze`, `mocks.sendbird`), and, for a team's own code, the moto-style in-process mocks:
`from mocks import mock_braze, mock_sendbird, mock_stack` (`mocks.inprocess`; docs/testing-your-code.md).

The mocks are imported on first use, so a fake served as a process never loads the bridge and the simulator
that `mock_stack` wires."""

from typing import Any

_EXPORTS = ("mock_braze", "mock_sendbird", "mock_stack", "FakeBraze", "FakeSendbird", "FakeStack", "MockError",
            "Notification", "Event")
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from mocks import inprocess

        return getattr(inprocess, name)
    raise AttributeError(f"module 'mocks' has no attribute {name!r}")
