"""Tests of the simulator (`simulator/`)."""
