"""Hardening tests of the probe on the real kernel: process churn, pid reuse, secrets never read."""
