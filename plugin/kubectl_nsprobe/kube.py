"""The plugin's only Kubernetes client code: kubeconfig loading and the reads commands.py needs.

Every object comes back as the plain JSON dict the API server sent. Every failure becomes an
errors.PluginError, so nothing above this module sees `ApiException` or urllib3 errors.
"""

from __future__ import annotations

import collections.abc
import json
import os
import pathlib
import typing
import urllib.parse

import kubernetes.client
import kubernetes.client.exceptions
import kubernetes.config
import kubernetes.config.config_exception
import urllib3.exceptions
import yaml

import kubectl_nsprobe
from kubectl_nsprobe import errors, escape, options

Obj = dict[str, typing.Any]

GROUP = "nsprobe.io"
VERSION = "v1alpha1"
POD_PROBES = "podprobes"
NODE_PROBES = "nodeprobes"
CONFIGS = "nsprobeconfigs"
CONFIG_NAME = "default"
_GROUP_PATH = f"/apis/{GROUP}/{VERSION}"
DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_READ_TIMEOUT = 86400.0
LIST_PAGE_SIZE = 500
_USER_AGENT = "kubectl-nsprobe"


def kubeconfig_paths(conn: options.Connection, environ: collections.abc.Mapping[str, str]) -> list[str]:
    """--kubeconfig, else every file of $KUBECONFIG, else ~/.kube/config (as kubectl)."""
    if conn.kubeconfig:
        return [conn.kubeconfig]
    listed = [p for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [str(pathlib.Path("~/.kube/config").expanduser())]


def _read_kubeconfigs(paths: collections.abc.Sequence[str]) -> list[Obj]:
    docs = []
    for path in paths:
        try:
            loaded = yaml.safe_load(pathlib.Path(path).expanduser().read_text())
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError) as error:
            raise errors.ConfigError(f"cannot read kubeconfig {path}: {error}") from error
        if isinstance(loaded, dict):
            docs.append(loaded)
    return docs


def _named(docs: collections.abc.Sequence[Obj], section: str, name: str) -> Obj | None:
    """The first entry called `name` in `section` across the files (kubectl's merge: first one wins)."""
    for doc in docs:
        for entry in doc.get(section) or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                body = entry.get(section[:-1])
                return body if isinstance(body, dict) else {}
    return None


class Kubeconfig(typing.NamedTuple):
    """What the plugin itself needs from the kubeconfig: the context's name, namespace and impersonation."""

    context: str | None
    namespace: str
    impersonate: str | None
    impersonate_groups: tuple[str, ...]


def resolve_kubeconfig(conn: options.Connection, environ: collections.abc.Mapping[str, str]) -> Kubeconfig:
    docs = _read_kubeconfigs(kubeconfig_paths(conn, environ))
    current = conn.context or next((d.get("current-context") for d in docs if d.get("current-context")), None)
    context = _named(docs, "contexts", current) if current else None
    if conn.context and context is None:
        raise errors.ConfigError(f'context "{conn.context}" does not exist in the kubeconfig')
    context = context or {}
    user = _named(docs, "users", context.get("user", "")) if context.get("user") else None
    user = user or {}
    groups = user.get("as-groups") or []
    return Kubeconfig(
        context=current,
        namespace=conn.namespace or context.get("namespace") or "default",
        impersonate=conn.impersonate or user.get("as") or None,
        impersonate_groups=conn.impersonate_groups or tuple(str(g) for g in groups if g),
    )


def _describe_connection_error(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    if "certificate" in lowered or "ssl" in lowered:
        return f"TLS error ({text})"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host"
    return text


def _status_message(*, status: int, reason: str, body: bytes | str | None) -> tuple[str, str]:
    """The Status object's message and reason from an error answer, escaped, as kubectl prints them."""
    try:
        parsed = json.loads(body or b"")
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict) and parsed.get("message"):
        return escape.text(parsed["message"]), escape.text(parsed.get("reason") or reason)
    return escape.text(reason or f"HTTP {status}"), escape.text(reason)


class Client:
    """Reads pods, nodes and nsprobe objects. Build one with connect(); nothing connects at import time.

    Requests go through ApiClient.call_api with plain paths. The generated per-group API classes are
    avoided on purpose: importing CoreV1Api alone costs seconds of start-up, and a plugin starts per command.
    """

    def __init__(
        self, api: kubernetes.client.ApiClient, *, namespace: str, timeout: float | None, context: str | None
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.context = context
        self.server = str(api.configuration.host)
        # Without --request-timeout (kubectl's "0") give up connecting after 30 s, as kubectl's dialer does,
        # and wait a day for an answer. The generated client accepts no "unlimited" in a (connect, read) pair.
        self._timeout: float | tuple[float, float] = (
            timeout if timeout is not None else (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
        )

    # --- plumbing -------------------------------------------------------------------------------------

    def _context_words(self) -> str:
        return f' (context "{self.context}")' if self.context else ""

    def _unreachable(self, error: BaseException) -> errors.UnreachableError:
        return errors.UnreachableError(
            f"cannot reach the Kubernetes API server at {self.server}: "
            f"{escape.text(_describe_connection_error(error))}. "
            f"Is the cluster running, and is the kubeconfig{self._context_words()} right?"
        )

    def _api_error(self, *, status: int, reason: str, body: bytes | str | None, what: str) -> errors.ApiError:
        message, reason = _status_message(status=status, reason=reason, body=body)
        if status == 401:
            return errors.UnauthorizedError(
                f"the API server at {self.server} did not accept the credentials{self._context_words()} "
                f"({message})",
                status=status,
                reason=reason or "Unauthorized",
            )
        if status == 403:
            return errors.ForbiddenError(message, status=status, reason=reason or "Forbidden")
        if status == 404:
            return errors.NotFoundError(message, status=status, reason=reason or "NotFound")
        return errors.ApiError(f"{what} failed: {message}", status=status, reason=reason or f"HTTP {status}")

    def get(self, path: str, *, query: collections.abc.Mapping[str, str] | None = None) -> Obj:
        """GET an API path and return the JSON object; errors.PluginError for any failure."""
        what = f"GET {path}"
        try:
            request = self.api.param_serialize(
                "GET",
                path,
                query_params=[(k, v) for k, v in (query or {}).items()],
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(*request, _request_timeout=self._timeout)
            response.read()  # type: ignore[no-untyped-call]
        except kubernetes.client.exceptions.ApiException as error:
            raise self._api_error(
                status=int(error.status or 0), reason=str(error.reason or ""), body=error.body, what=what
            ) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise self._unreachable(error) from error
        if not 200 <= response.status <= 299:
            raise self._api_error(
                status=response.status, reason=str(response.reason or ""), body=response.data, what=what
            )
        try:
            data = json.loads(response.data or b"")
        except ValueError as error:
            raise errors.ApiError(f"{what}: the answer is not JSON", status=response.status) from error
        if not isinstance(data, dict):
            raise errors.ApiError(f"{what}: expected a JSON object", status=response.status)
        return data

    def list_all(self, path: str, *, query: collections.abc.Mapping[str, str] | None = None) -> list[Obj]:
        """Every item of a list, fetched in pages of LIST_PAGE_SIZE."""
        items: list[Obj] = []
        cont = ""
        while True:
            page_query = {**(query or {}), "limit": str(LIST_PAGE_SIZE)}
            if cont:
                page_query["continue"] = cont
            page = self.get(path, query=page_query)
            items.extend(item for item in page.get("items") or [] if isinstance(item, dict))
            cont = str((page.get("metadata") or {}).get("continue") or "")
            if not cont:
                return items

    # --- reads ---------------------------------------------------------------------------------------

    def served_resources(self) -> set[str] | None:
        """Plural names served by nsprobe.io/v1alpha1, or None when the group is not served at all."""
        try:
            found = self.get(f"/apis/{GROUP}/{VERSION}")
        except errors.NotFoundError:
            return None
        return {str(r.get("name")) for r in found.get("resources") or [] if isinstance(r, dict)}

    def get_pod(self, namespace: str, name: str) -> Obj:
        return self.get(f"/api/v1/namespaces/{_seg(namespace)}/pods/{_seg(name)}")

    def list_pods(self, namespace: str | None, *, selector: str | None = None) -> list[Obj]:
        path = "/api/v1/pods" if namespace is None else f"/api/v1/namespaces/{_seg(namespace)}/pods"
        return self.list_all(path, query={"labelSelector": selector} if selector else None)

    def get_node(self, name: str) -> Obj:
        return self.get(f"/api/v1/nodes/{_seg(name)}")

    def get_pod_probe(self, namespace: str, name: str) -> Obj:
        return self.get(f"{_GROUP_PATH}/namespaces/{_seg(namespace)}/{POD_PROBES}/{_seg(name)}")

    def list_pod_probes(self, namespace: str | None) -> list[Obj]:
        if namespace is None:
            return self.list_all(f"{_GROUP_PATH}/{POD_PROBES}")
        return self.list_all(f"{_GROUP_PATH}/namespaces/{_seg(namespace)}/{POD_PROBES}")

    def get_node_probe(self, name: str) -> Obj:
        return self.get(f"{_GROUP_PATH}/{NODE_PROBES}/{_seg(name)}")

    def list_node_probes(self) -> list[Obj]:
        return self.list_all(f"{_GROUP_PATH}/{NODE_PROBES}")

    def get_config(self) -> Obj:
        return self.get(f"{_GROUP_PATH}/{CONFIGS}/{CONFIG_NAME}")

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]


def _seg(value: str) -> str:
    """One path segment, percent-encoded, so a name can never reach another path."""
    return urllib.parse.quote(value, safe="")


def connect(conn: options.Connection, *, environ: collections.abc.Mapping[str, str] | None = None) -> Client:
    """A client for the kubeconfig context (or the in-cluster service account when there is no kubeconfig)."""
    env = os.environ if environ is None else environ
    resolved = resolve_kubeconfig(conn, env)
    paths = kubeconfig_paths(conn, env)
    configuration = kubernetes.client.Configuration()
    if any(pathlib.Path(p).expanduser().exists() for p in paths):
        try:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=os.pathsep.join(paths),
                context=conn.context,
                client_configuration=configuration,
                persist_config=False,
            )
        except kubernetes.config.config_exception.ConfigException as error:
            raise errors.ConfigError(f"invalid kubeconfig ({', '.join(paths)}): {error}") from error
    elif env.get("KUBERNETES_SERVICE_HOST") and not conn.kubeconfig:
        try:
            kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except kubernetes.config.config_exception.ConfigException as error:
            raise errors.ConfigError(f"no kubeconfig and no usable in-cluster config: {error}") from error
    else:
        raise errors.ConfigError(
            f"no kubeconfig found at {', '.join(paths)}: set KUBECONFIG or pass --kubeconfig"
        )
    # One attempt per request: a refused connection should fail at once, as kubectl does.
    configuration.retries = 0
    api = kubernetes.client.ApiClient(configuration)
    api.user_agent = f"{_USER_AGENT}/{kubectl_nsprobe.__version__}"
    if resolved.impersonate:
        api.default_headers["Impersonate-User"] = resolved.impersonate
    if len(resolved.impersonate_groups) > 1:
        raise errors.UsageError("only one impersonated group is supported (--as-group / as-groups)")
    if resolved.impersonate_groups:
        if not resolved.impersonate:
            raise errors.UsageError("impersonating a group needs a user too (--as)")
        api.default_headers["Impersonate-Group"] = resolved.impersonate_groups[0]
    return Client(api, namespace=resolved.namespace, timeout=conn.request_timeout, context=resolved.context)
