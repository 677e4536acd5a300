"""Typed shapes of nsprobe's custom resources (spec and status); pure, no client code."""
