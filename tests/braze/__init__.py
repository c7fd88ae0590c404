"""Tests of braze."""
