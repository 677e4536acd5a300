"""Tests of the pure kernel-text parsers (nsprobe.probe.parsers)."""
