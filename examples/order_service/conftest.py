"""The order service's own test setup. The fixtures (`fake_stack`, `live_stack`) come from the harness's pytest
plugin, installed with the harness; nothing is defined here. This file's folder has no `__init__.py`, so pytest
puts it on `sys.path` (its "rootdir/conftest" rule), which makes `orders` importable from `tests/`."""
