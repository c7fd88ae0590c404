"""Tests of the simulator (`simulator/`).

`tests/` has no `__init__.py`, so pytest (rootdir-relative "prepend" import mode) imports this folder as the
top-level package `simulator`: the project's own package name. So that `simulator.reports`, `simulator.scenario`, ...
still resolve to the project's modules however the project is installed, the project's `simulator/` folder is added
to this package's search path (the project's `simulator/__init__.py` is empty, so nothing is lost).
"""

from pathlib import Path

_PROJECT_SIMULATOR = Path(__file__).resolve().parents[2] / "simulator"
if str(_PROJECT_SIMULATOR) not in __path__:
    __path__.append(str(_PROJECT_SIMULATOR))
