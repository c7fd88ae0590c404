"""Tests of the bridge (`bridge/`), against the contract in docs/bridge.md.

`tests/` has no `__init__.py`, so pytest (rootdir-relative "prepend" import mode) imports this folder as the
top-level package `bridge`: the project's own package name. So that `bridge.service`, `bridge.app`, ... still
resolve to the project's modules however the project is installed, the project's `bridge/` folder is added to
this package's search path (the project's `bridge/__init__.py` is empty, so nothing is lost).
"""

from pathlib import Path

_PROJECT_BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
if str(_PROJECT_BRIDGE) not in __path__:
    __path__.append(str(_PROJECT_BRIDGE))
