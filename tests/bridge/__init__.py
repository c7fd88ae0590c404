"""Tests of the bridge (`bridge/`), against the contract in docs/bridge.md."""
