"""Tests proving the tier-2 test bed is a real Kubernetes control plane (run by `make test` and .ci/run)."""
