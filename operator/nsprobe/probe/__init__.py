"""The node probe: reads /proc and cgroupfs under injected roots and reports per container (no Kubernetes)."""
