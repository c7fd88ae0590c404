"""Id generation: reproducible from a seed, random without one."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.ids import IdFactory


def draw_all(ids: IdFactory) -> list:
    return [ids.uuid(), ids.hex(), ids.hex(8), ids.new("noti_"), ids.integer(), ids.integer(3), ids.uuid()]


def test_same_seed_same_sequence() -> None:
    assert draw_all(IdFactory(42)) == draw_all(IdFactory(42))
    assert IdFactory(0).uuid() == IdFactory(0).uuid()


def test_different_seeds_differ() -> None:
    assert draw_all(IdFactory(1)) != draw_all(IdFactory(2))
    assert len({IdFactory(seed).uuid() for seed in range(100)}) == 100


def test_seeded_sequence_does_not_repeat_itself() -> None:
    ids = IdFactory(7)
    draws = [ids.uuid() for _ in range(1000)]
    assert len(set(draws)) == 1000


@pytest.mark.parametrize("seed", [None, 0, 123])
def test_uuid_is_valid_v4(seed: int | None) -> None:
    ids = IdFactory(seed)
    for _ in range(200):
        text = ids.uuid()
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", text)
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


@pytest.mark.parametrize("seed", [None, 5])
def test_hex_and_new(seed: int | None) -> None:
    ids = IdFactory(seed)
    assert re.fullmatch(r"[0-9a-f]{32}", ids.hex())
    assert re.fullmatch(r"[0-9a-f]{6}", ids.hex(6))
    assert re.fullmatch(r"noti_[0-9a-f]{24}", ids.new("noti_"))
    assert re.fullmatch(r"[0-9a-f]{10}", ids.new(length=10))


@given(digits=st.integers(1, 30), seed=st.one_of(st.none(), st.integers(0, 2**32)))
def test_integer_has_the_requested_number_of_digits(digits: int, seed: int | None) -> None:
    ids = IdFactory(seed)
    for _ in range(20):
        value = ids.integer(digits)
        assert isinstance(value, int)
        assert value > 0
        assert len(str(value)) == digits


def test_integer_covers_the_range() -> None:
    ids = IdFactory(3)
    seen = {ids.integer(1) for _ in range(500)}
    assert seen == set(range(1, 10))


def test_unseeded_ids_are_unique() -> None:
    ids = IdFactory()
    assert ids.seed is None
    assert len({ids.uuid() for _ in range(10_000)}) == 10_000
    assert len({ids.new("m_") for _ in range(10_000)}) == 10_000
    assert len({ids.integer(18) for _ in range(10_000)}) == 10_000


def test_unseeded_factories_are_independent() -> None:
    assert draw_all(IdFactory()) != draw_all(IdFactory())


def test_derived_hex_is_fixed_by_the_seed_and_draws_nothing_from_the_id_stream() -> None:
    plain, deriving = IdFactory(5), IdFactory(5)
    assert deriving.derived_hex("journal-epoch") == IdFactory(5).derived_hex("journal-epoch")
    assert deriving.derived_hex("journal-epoch") != deriving.derived_hex("other")
    assert deriving.derived_hex("journal-epoch") != IdFactory(6).derived_hex("journal-epoch")
    assert len(deriving.derived_hex("x", 12)) == 12
    assert deriving.uuid() == plain.uuid()  # the ids a seeded run made before it are unchanged
    assert IdFactory().derived_hex("x") != IdFactory().derived_hex("x")  # no seed: random
