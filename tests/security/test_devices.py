"""The simulator's devices call through the runtime's transport, so the outbound policy covers them too
(docs/security.md, "Outbound calls")."""

from __future__ import annotations

import threading

from simulator.devices import DeviceFleet

from .conftest import TEST_NET_1, runtime_with_live_http


def test_a_device_stream_to_a_refused_host_is_a_device_error_and_no_connection(network):
    runtime = runtime_with_live_http()
    http = runtime.transport.session()
    fleet = DeviceFleet(runtime, [], http, f"http://{TEST_NET_1}:7200", http, "http://127.0.0.1:7100",
                        "key", seed=1)
    fleet.stream_live(f"http://{TEST_NET_1}:7200/_admin/deliveries/stream", threading.Event())
    records, _ = runtime.journal.read(kinds=["device.error"])
    [error] = [r.to_dict() for r in records]
    assert error["action"] == "stream" and "OutboundRefused" in error["error"] and TEST_NET_1 in error["error"]
    assert fleet.stats["errors"] == 1 and network.external == []
    runtime.close()
