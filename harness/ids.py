"""Id generation: deterministic from a seed in simulated mode, random in live mode.

Determinism matters because the same scenario seed must give the same report byte for byte,
and reports quote notification, message and dispatch ids. Live mode seeds the same generator
from the OS once rather than asking the OS for every id: these are fake ids, not secrets, and a
`getrandom` call per id costs a syscall that lets other threads take the GIL mid-request.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import uuid


class IdFactory:
    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._rng = random.Random(seed if seed is not None else os.urandom(32))
        self._lock = threading.Lock()

    def _bits(self, n: int) -> int:
        with self._lock:
            return self._rng.getrandbits(n)

    def uuid(self) -> str:
        """An RFC 4122 version-4 UUID string."""
        return str(uuid.UUID(int=self._bits(128), version=4))

    def hex(self, length: int = 32) -> str:
        return f"{self._bits(length * 4):0{length}x}"

    def derived_hex(self, label: str, length: int = 12) -> str:
        """A hex id fixed by the seed and `label` (random without a seed), drawn apart from the id
        stream: adding one (the journal's epoch) changes no other id a seeded run makes."""
        if self.seed is None:
            return os.urandom(length).hex()[:length]
        return hashlib.sha256(f"{self.seed}:{label}".encode()).hexdigest()[:length]

    def new(self, prefix: str = "", length: int = 24) -> str:
        """A prefixed opaque id, e.g. `new("noti_")`."""
        return prefix + self.hex(length)

    def integer(self, digits: int = 12) -> int:
        """A positive integer id with exactly `digits` digits (Sendbird message ids are integers)."""
        low = 10 ** (digits - 1)
        span = 9 * low
        with self._lock:
            return low + self._rng.randrange(span)

    def export_state(self) -> tuple:
        """The generator's state, as a snapshot keeps it."""
        with self._lock:
            return self._rng.getstate()

    def restore_state(self, state: tuple, clean: bool) -> None:
        """Continue from a snapshot's state. After an unclean one (a crash), the process may have handed out
        ids past the snapshot that are not in it, so the stream moves on to another, fresh one (seeded runs
        stay reproducible: the fresh one is derived from the state and the seed) and no id repeats."""
        self.apply_state(self.prepare_state(state, clean))

    def prepare_state(self, state: tuple, clean: bool) -> random.Random:
        """The generator a snapshot's state makes, changing nothing (ValueError/TypeError when it is not one)."""
        fresh = random.Random()
        fresh.setstate(state)  # ValueError/TypeError when it is not a generator's state, before anything changes
        if not clean:
            fresh.seed(fresh.getrandbits(256) ^ (self.seed if self.seed is not None
                                                 else int.from_bytes(os.urandom(32), "big")))
        return fresh

    def apply_state(self, fresh: random.Random) -> None:
        with self._lock:
            self._rng = fresh

    def fraction(self) -> float:
        """A float in [0, 1): for jitter that must replay the same under a seed."""
        return self._bits(53) / (1 << 53)
