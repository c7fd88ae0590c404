import pytest

from harness.processes import free_port, start_service


@pytest.fixture
def live_sendbird(request):
    """A live fake Sendbird on an ephemeral port; extra CLI args via indirect parametrization."""
    args = getattr(request, "param", ())
    service = start_service("sendbird", "mocks.sendbird", free_port(), ("--ws-port", str(free_port()), *args))
    yield service
    service.stop()
