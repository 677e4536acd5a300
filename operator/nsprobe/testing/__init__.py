"""Test support for nsprobe: a real control plane and a node, used by tests/ and `make cluster-up`."""
