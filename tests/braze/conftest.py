"""The fixture most Braze tests share: a fake Braze on a simulated clock, closed after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .braze_fixtures import BrazeEnv


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    yield env
    env.close()
