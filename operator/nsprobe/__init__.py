"""nsprobe: kernel truth about Kubernetes pods; the package version lives here for every component."""

__version__ = "0.1.0"
