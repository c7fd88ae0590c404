"""The fakes in-process, moto-style, for a team's own code: its calls to the products' real hosts reach them.

This folder sits above the two fakes and the bridge (it wires them, as the simulator does) and never below
them: `mocks.braze`, `mocks.sendbird` and `bridge` know nothing of it. docs/testing-your-code.md shows it in use.
"""

from mocks.inprocess.activation import Mock, mock_braze, mock_sendbird, mock_stack
from mocks.inprocess.braze import Event, FakeBraze
from mocks.inprocess.hosts import BRAZE_INSTANCES, sendbird_hosts
from mocks.inprocess.routing import Call, UnmockedHost
from mocks.inprocess.sendbird import Device, FakeSendbird, Notification
from mocks.inprocess.stack import FakeStack
from mocks.inprocess.world import MockError, World

__all__ = ["BRAZE_INSTANCES", "Call", "Device", "Event", "FakeBraze", "FakeSendbird", "FakeStack", "Mock",
           "MockError", "Notification", "UnmockedHost", "World", "mock_braze", "mock_sendbird", "mock_stack",
           "sendbird_hosts"]
