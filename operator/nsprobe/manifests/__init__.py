"""Pure builders of Kubernetes objects (build_*(spec) -> dict); called by nsprobe.reconcile, never connect."""
