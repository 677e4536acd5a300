"""Prometheus metrics for the agent, the no-cluster exporter and the operator; see collector and activity."""
