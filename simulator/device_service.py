"""`python -m simulator.device_service`: the demo world's devices as a process of their own.

They follow the fake Sendbird's delivery stream (pushed, never polled) and act with the demo
population's behaviour; `bsim up` starts this beside the three services. The stream is an admin route:
the admin token, when the stack has one, comes in BSIM_ADMIN_TOKEN (the environment, not the command
line, where every user of the machine could read it).
"""

from __future__ import annotations

import argparse
import signal
import threading

from harness.admin_client import send_admin_token
from harness.processes import die_with_parent, ticks
from harness.runtime import Runtime
from simulator.devices import DeviceFleet
from simulator.population import build_population


def main(argv: list[str] | None = None) -> None:
    from simulator.up import demo_scenario

    parser = argparse.ArgumentParser(prog="python -m simulator.device_service", description=__doc__)
    parser.add_argument("--sendbird-url", default="http://127.0.0.1:7200")
    parser.add_argument("--braze-url", default="http://127.0.0.1:7100")
    parser.add_argument("--braze-key", default="local-braze-key")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--clock-epoch", type=float, default=None, help="share bsim up's clock (Unix seconds)")
    parser.add_argument("--prefix", default="demo-")
    args = parser.parse_args(argv)
    die_with_parent()
    scenario = demo_scenario()
    runtime = Runtime.live(speed=args.speed, seed=scenario.seed, clock_epoch=args.clock_epoch)
    users = build_population(scenario.population, scenario.seed, runtime.clock.now())
    http = send_admin_token(runtime.transport.session())
    fleet = DeviceFleet(runtime, users, http, args.sendbird_url, http, args.braze_url,
                        args.braze_key, scenario.seed)
    stop = threading.Event()

    def leave(*_: object) -> None:
        """Stop now: a stream read blocks until the next event or heartbeat (seconds away), so the
        signal ends it by raising rather than by a flag read after it."""
        stop.set()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)
    try:
        for _ in ticks(1.0):  # reconnect when the stream ends (a restarted Sendbird)
            if stop.is_set():
                break
            fleet.stream_live(f"{args.sendbird_url}/_admin/deliveries/stream", stop)
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
