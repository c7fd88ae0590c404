"""The fake Braze's ids: the runtime's id stream until a restore, then a stream of its own kept in snapshots.

Every id the fake makes (braze_id, campaign and canvas ids, dispatch, trace, schedule and segment ids) comes
from the runtime's seeded `IdFactory`. A world restored into a runtime of the same seed would draw the very ids
it already holds, so a restore moves the service to its own stream: the one the snapshot carried (the stream of
an earlier restore, continued where it stood), else a new one derived from the runtime's seed (random without
one). Before any restore nothing changes: a seeded run makes the same ids, byte for byte, as it always did.
"""

from __future__ import annotations

from typing import Any

from harness.ids import IdFactory
from mocks.braze.state import StateError, expect

RESTORE_LABEL = "braze-ids-after-restore"


class OwnIds(IdFactory):
    """An `IdFactory` whose generator state is plain data (`random.Random.getstate()`)."""

    def getstate(self) -> Any:
        with self._lock:
            return self._rng.getstate()

    def setstate(self, state: Any) -> None:
        with self._lock:
            self._rng.setstate(state)


class ServiceIds:
    """Stands where `runtime.ids` stands for the service's components, drawing from the current stream."""

    def __init__(self, shared: IdFactory) -> None:
        self._shared = shared
        self._current: IdFactory = shared

    @property
    def seed(self) -> int | None:
        return self._shared.seed

    def uuid(self) -> str:
        return self._current.uuid()

    def hex(self, length: int = 32) -> str:
        return self._current.hex(length)

    def derived_hex(self, label: str, length: int = 12) -> str:
        return self._shared.derived_hex(label, length)

    def new(self, prefix: str = "", length: int = 24) -> str:
        return self._current.new(prefix, length)

    def integer(self, digits: int = 12) -> int:
        return self._current.integer(digits)

    def fraction(self) -> float:
        return self._current.fraction()

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_state(self) -> Any:
        """The service's own stream's state, or None while it draws from the runtime's."""
        return self._current.getstate() if isinstance(self._current, OwnIds) else None

    def stage_state(self, state: Any) -> OwnIds:
        own = OwnIds(int(self._shared.derived_hex(RESTORE_LABEL, 32), 16))
        if state is not None:
            expect(state, tuple, "ids")
            try:
                own.setstate(state)
            except (TypeError, ValueError) as exc:
                raise StateError("ids", f"not a random generator state ({exc})") from None
        return own

    def swap(self, own: OwnIds) -> None:
        self._current = own
