"""One process owns an outbox file: a second bridge on it would send everything twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.outbox import Outbox, OutboxInUse


def test_a_second_outbox_on_a_held_file_is_refused_and_the_file_is_free_after_close(tmp_path: Path):
    path = tmp_path / "bridge.sqlite3"
    first = Outbox(path)
    first.accept("m1", "realtime", {"template_key": "t"}, "u1", "g", None, 1.0, {"status": "accepted"})
    with pytest.raises(OutboxInUse, match="in use by another bridge process"):
        Outbox(path)
    first.close()
    second = Outbox(path)
    assert second.depth() == {"webhooks_pending": 1}
    second.close()


def test_the_bridge_command_exits_with_a_message_when_its_outbox_is_held(tmp_path: Path):
    path = tmp_path / "bridge.sqlite3"
    holder = Outbox(path)
    try:
        done = subprocess.run([sys.executable, "-m", "bridge", "--port", "1", "--db", str(path)],
                              capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert done.returncode != 0
    assert "in use by another bridge process" in done.stderr and "--db" in done.stderr
