"""Garbage-collector settings for processes that hold large in-memory stores.

The fakes keep every user, message and journal record in memory, so a process soon holds
millions of container objects that never die. CPython's default collector (a young collection
every 700 allocations, older ones as the heap grows) keeps re-scanning them: measured on the fake
Sendbird's realtime send, collection took about a fifth of each request (105 us against 82 us with
collection off). Freezing what exists at start-up and collecting the young generation less often
brings that to about 87 us, while cycles are still collected.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 50
OLD_THRESHOLD = 100


def tune_for_long_lived_stores() -> None:
    """Move everything allocated so far out of the collector's way and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
