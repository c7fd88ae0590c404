import pytest

from simulator import runner


@pytest.fixture
def journal(monkeypatch):
    """The records a simulated run's report was built from."""
    seen: list[dict] = []
    build = runner.build_report

    def keep(records, **kwargs):
        seen.extend(records)
        return build(records, **kwargs)

    monkeypatch.setattr(runner, "build_report", keep)
    return seen
