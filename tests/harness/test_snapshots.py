"""harness.snapshots on a toy service: the file format, atomic writes, the journal's clean/epoch rule, the id
generator after a restore, and the periodic saves (skipped when nothing changed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.runtime import Runtime
from harness.snapshots import SnapshotError, SnapshotKeeper, decode, encode, read_header, write_atomic


class Toy:
    """A service whose whole state is one dict."""

    def __init__(self) -> None:
        self.data: dict[str, int] = {}

    def snapshot_state(self) -> dict[str, int]:
        return dict(self.data)

    def restore_state(self, state: dict[str, int]) -> None:
        if not isinstance(state, dict):
            raise ValueError("not a toy state")
        self.data = dict(state)

    def reset(self) -> None:
        self.data = {}


def toy(seed: int = 1) -> tuple[Toy, SnapshotKeeper, Runtime]:
    runtime = Runtime.simulation(seed=seed)
    service = Toy()
    keeper = SnapshotKeeper("toy", runtime, service.snapshot_state, service.restore_state, service.reset)
    return service, keeper, runtime


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text() | st.binary() | st.floats(allow_nan=False),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner) | st.tuples(inner, inner)
                    | st.frozensets(st.integers()), max_leaves=20))
def test_plain_data_round_trips(value):
    assert decode(encode("toy", {"service": value}, False), "toy").state["service"] == value


def test_the_header_is_one_json_line_describing_the_payload():
    data = encode("toy", {"service": {"a": 1}}, True)
    header = json.loads(data.split(b"\n", 1)[0])
    assert set(header) == {"format", "version", "service", "taken_at", "clean", "sha256", "bytes"}
    assert (header["format"], header["version"], header["service"], header["clean"]) == ("bsim-snapshot", 1, "toy",
                                                                                        True)
    assert read_header(data)[0] == header


def test_every_truncation_is_refused():
    data = encode("toy", {"service": {"a": list(range(100))}}, False)
    for cut in range(0, len(data), max(1, len(data) // 50)):
        with pytest.raises(SnapshotError):
            decode(data[:cut], "toy")


def test_write_atomic_replaces_whole_and_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "x.snapshot"
    write_atomic(target, b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["x.snapshot"]
    with pytest.raises(SnapshotError, match="is not a directory"):
        write_atomic(tmp_path / "missing" / "x", b"")


def test_a_clean_restore_keeps_the_epoch_and_an_unclean_one_makes_a_new_one():
    _service, keeper, runtime = toy()
    runtime.journal.record("toy", "thing.done", None, n=1)
    for clean in (True, False):
        _other, other_keeper, other_runtime = toy(seed=2)
        other_keeper.restore(keeper.take(clean=clean))
        assert (other_runtime.journal.epoch == runtime.journal.epoch) is clean
        records = [r.to_dict() for r in runtime.journal.read()[0]]
        assert [r.to_dict() for r in other_runtime.journal.read()[0]] == records
        assert other_runtime.journal.cursor == runtime.journal.cursor


def test_ids_go_on_after_a_clean_restore_and_never_repeat_after_an_unclean_one():
    _, keeper, runtime = toy()
    blob_clean, blob_unclean = keeper.take(clean=True), keeper.take(clean=False)
    after = [runtime.ids.uuid() for _ in range(5)]  # what the process handed out after the snapshot
    _, clean_keeper, clean_runtime = toy(seed=9)
    clean_keeper.restore(blob_clean)
    assert [clean_runtime.ids.uuid() for _ in range(5)] == after
    _, unclean_keeper, unclean_runtime = toy(seed=9)
    unclean_keeper.restore(blob_unclean)
    assert not set(after) & {unclean_runtime.ids.uuid() for _ in range(1000)}


def test_a_state_the_service_refuses_changes_nothing():
    service, keeper, runtime = toy()
    service.data = {"kept": 1}
    runtime.journal.record("toy", "thing.done", None)
    epoch = runtime.journal.epoch
    with pytest.raises(SnapshotError, match="could not be loaded: ValueError: not a toy state"):
        keeper.restore(encode("toy", {"service": [1], "journal": {"records": [], "last_seq": 0, "epoch": "x"}},
                              False))
    assert service.data == {"kept": 1} and runtime.journal.epoch == epoch and len(runtime.journal) == 1


@pytest.mark.parametrize("part, value", [("journal", {"records": [(1, "x", "toy", "k", None, {})], "last_seq": 1,
                                                      "epoch": "abc"}),
                                         ("journal", {"records": [], "last_seq": 0, "epoch": "not an epoch!"}),
                                         ("ids", (1, 2, 3))])
def test_a_bad_journal_or_id_state_changes_not_even_the_service(part, value):
    service, keeper, _runtime = toy()
    service.data = {"kept": 1}
    good = decode(keeper.take(), "toy").state
    good["service"] = {"new": 2}
    good[part] = value
    with pytest.raises(SnapshotError, match="journal or ids"):
        keeper.restore(encode("toy", good, False))
    assert service.data == {"kept": 1}


def test_periodic_saves_skip_an_unchanged_world_and_stop_at_shutdown(tmp_path: Path):
    service, keeper, runtime = toy()
    keeper.load_at_start(persist_dir=str(tmp_path), interval=2)
    path = tmp_path / "toy.snapshot"
    first = path.read_bytes()
    runtime.scheduler.run_for(5)
    assert path.read_bytes() == first, "nothing changed: no save"
    service.data["a"] = 1
    runtime.journal.record("toy", "thing.done", None)
    runtime.scheduler.run_for(2.5)
    saved = decode(path.read_bytes(), "toy")
    assert saved.state["service"] == {"a": 1} and saved.clean is False
    keeper.save_on_shutdown()
    assert decode(path.read_bytes(), "toy").clean is True
    service.data["b"] = 2
    runtime.journal.record("toy", "thing.done", None)
    runtime.scheduler.run_for(10)
    assert decode(path.read_bytes(), "toy").clean is True, "no periodic save after the shutdown's"
    assert keeper.save_on_shutdown() is None, "a second signal saves nothing again"


def test_a_writing_request_counts_as_a_change():
    _, keeper, _ = toy()
    calls = []
    app = keeper.counting(lambda environ, start: calls.append(environ["REQUEST_METHOD"]) or [])
    for method in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE"):
        app({"REQUEST_METHOD": method}, None)
    assert keeper.writes == 3 and len(calls) == 6


def test_reset_to_seed_and_without_one():
    service, keeper, _ = toy()
    with pytest.raises(SnapshotError, match='"seed": true'):
        keeper.reset_to("seed")
    service.data = {"seeded": 1}
    keeper.keep_seed()
    service.data["later"] = 2
    keeper.reset_to("seed")
    assert service.data == {"seeded": 1}
    keeper.reset_to("empty")
    assert service.data == {}
