"""The operator's decisions (what to create, patch, delete); called by nsprobe.handlers, uses nsprobe.kube."""
