"""Suite-wide settings.

- Hypothesis's per-example deadline is a timing assertion, and these machines are shared and noisy (a
  2 ms example once took 707 ms under load): speed belongs in `benchmarks/`, so no property test has one.
- The console's live stack and browser tests run last. pytest-playwright's sync API keeps an asyncio loop
  running in the main thread from its first page to the session's end, and any later test that calls
  `asyncio.run()` (the gateway's, the realtime socket's) would fail with "cannot be called from a running
  event loop"; run last, they also start the shared `bsim up` of tests/console once, after everything else.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("harness", deadline=None)
settings.load_profile("harness")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: "live_stack" in getattr(item, "fixturenames", ()) or
               item.get_closest_marker("browser") is not None)
