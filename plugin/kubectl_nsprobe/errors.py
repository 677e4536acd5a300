"""The plugin's error types: kube.py raises them from API failures, cli.py turns them into exit codes."""

from __future__ import annotations

INSTALL_HINT = "helm install nsprobe charts/nsprobe -n nsprobe --create-namespace"

EXIT_OK = 0
EXIT_FAILURE = 1  # not found, API error, unreachable cluster, missing report
EXIT_USAGE = 2  # bad flags or arguments (click's own code for usage errors)


class PluginError(Exception):
    """An error with a message meant for the user; `str(error)` is printed after "error: "."""

    exit_code = EXIT_FAILURE


class ConfigError(PluginError):
    """The kubeconfig is missing, unreadable, or names a context or user that does not exist."""


class UsageError(PluginError):
    """Flags that parse but do not make sense together."""

    exit_code = EXIT_USAGE


class UnreachableError(PluginError):
    """No HTTP answer from the API server: refused, timed out, DNS or TLS failure."""


class ApiError(PluginError):
    """The API server answered with an error status."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class UnauthorizedError(ApiError):
    """HTTP 401: the credentials were not accepted."""


class ForbiddenError(ApiError):
    """HTTP 403: the identity may not do this (RBAC)."""


class NotFoundError(ApiError):
    """HTTP 404: the object (or the whole resource type) does not exist."""


class NotInstalledError(PluginError):
    """The nsprobe.io API group or one of its resources is not served: the CRDs are not installed."""

    def __init__(self, resource: str) -> None:
        super().__init__(
            f"nsprobe is not installed in this cluster: the API server does not serve {resource}.nsprobe.io "
            f"(the CustomResourceDefinitions are missing).\nInstall it with:\n  {INSTALL_HINT}"
        )


class NoReportError(PluginError):
    """The object exists but nsprobe has no report for it yet; the message says why."""
