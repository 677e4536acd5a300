"""The only code that talks to the Kubernetes API (agent, operator): JSON in and out, KubeError raised."""

from __future__ import annotations

import collections.abc
import json
import os
import re
import typing

import kubernetes.client
import kubernetes.client.exceptions
import kubernetes.config
import urllib3.exceptions

Json = dict[str, typing.Any]
GROUP = "nsprobe.io"
VERSION = "v1alpha1"
# Seconds: connect, then read. An outage must surface as ApiUnavailable quickly, never as a hang.
REQUEST_TIMEOUT = (5.0, 30.0)
WATCH_SECONDS = 290
_APPLY = "application/apply-patch+yaml"
_MERGE = "application/merge-patch+json"
_METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
# What an apply body may hold raw inside a string: YAML's printable characters (go-yaml checks them) minus
# its line breaks NEL, LS and PS, which a double-quoted scalar would fold into a space. Everything else is
# written as a \uXXXX escape; lone surrogates (undecodable kernel bytes) as U+FFFD.
_NOT_YAML_PRINTABLE = re.compile(
    "[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


def _apply_body(body: typing.Any) -> bytes:
    """An apply-patch body as UTF-8 JSON text that the apiserver's YAML decoder accepts.

    The client library would send json.dumps(body), which writes a character outside the BMP (an emoji in a
    mount source) as a surrogate-pair escape: JSON allows that, YAML refuses it ("invalid Unicode character
    escape code"), so the whole write would fail with 400. Written raw instead, as YAML requires.
    """

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return "\\ufffd" if 0xD800 <= code <= 0xDFFF else f"\\u{code:04x}"

    return _NOT_YAML_PRINTABLE.sub(escape, json.dumps(body, ensure_ascii=False)).encode("utf-8")


class KubeError(Exception):
    """An API call failed; subclasses say how. ``status`` is the HTTP status (0: no response)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFoundError(KubeError):
    pass


class ConflictError(KubeError):
    """409: the object exists already, or a precondition / resourceVersion did not match."""


class ForbiddenError(KubeError):
    """403: RBAC or an admission policy refused the request."""


class InvalidError(KubeError):
    """422 or 400: the object does not validate (schema, size); also etcd's 500 for an object too large."""


class GoneError(KubeError):
    """410: a watch's resourceVersion is too old; list again."""


class ApiUnavailableError(KubeError):
    """No usable answer: connection refused or reset, timeout, or a 5xx/429 from the server."""


def _from_api_exception(exc: kubernetes.client.exceptions.ApiException) -> KubeError:
    return _error(int(exc.status or 0), str(exc.reason or ""), exc.body)


def _error(status: int, http_reason: str, body: typing.Any) -> KubeError:
    message, reason = http_reason, ""
    try:
        decoded = json.loads(body or b"{}")
        message, reason = decoded.get("message", message), decoded.get("reason", "")
    except (ValueError, TypeError, AttributeError):
        pass
    kind: type[KubeError] = KubeError
    if status == 404:
        kind = NotFoundError
    elif status == 409:
        kind = ConflictError
    elif status in (401, 403):
        kind = ForbiddenError
    elif status in (400, 413, 422) or (status == 500 and "request is too large" in str(message)):
        # etcd's refusal of an object above its request limit comes back as a 500; it is no outage, and
        # sending the same body again can't help.
        kind = InvalidError
    elif status == 410:
        kind = GoneError
    elif status == 0 or status == 429 or status >= 500:
        kind = ApiUnavailableError
    return kind(f"{status} {reason}: {message}".strip(), status=status, reason=reason)


_TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)


def connect(kubeconfig: str | None = None, *, context: str | None = None) -> kubernetes.client.ApiClient:
    """An ApiClient from ``kubeconfig``, else in-cluster (token refreshed), else $KUBECONFIG."""
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config = kubernetes.client.Configuration()
            kubernetes.config.load_incluster_config(client_configuration=config)  # type: ignore[no-untyped-call]
            return kubernetes.client.ApiClient(config)
        # The client reads $KUBECONFIG once, at import; read it now so a later export counts.
        path = kubeconfig or (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0] or None
        client: kubernetes.client.ApiClient = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context
        )
        return client
    except (kubernetes.config.ConfigException, OSError) as exc:
        raise KubeError(f"no usable Kubernetes credentials: {exc}") from exc


class Kube:
    """Thin JSON-in, JSON-out access to the few endpoints nsprobe uses; built once at start-up."""

    def __init__(self, api: kubernetes.client.ApiClient, *, field_manager: str) -> None:
        self.api = api
        self.field_manager = field_manager
        self.requests = 0  # every request sent, for the benchmark and the agent's metrics

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]

    # --- transport ------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: collections.abc.Mapping[str, typing.Any] | None = None,
        body: typing.Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> Json:
        if content_type == _APPLY and body is not None and not isinstance(body, bytes):
            body = _apply_body(body)
        response = self._call(
            method,
            path,
            query=query,
            body=body,
            content_type=content_type,
            accept=accept,
            timeout=timeout,
            stream=False,
        )
        try:
            data = json.loads(response.data or b"{}")
        except ValueError as exc:
            raise ApiUnavailableError(f"{method} {path}: undecodable answer: {exc}") from exc
        finally:
            response.release_conn()
        if not isinstance(data, dict):
            raise ApiUnavailableError(f"{method} {path}: expected a JSON object")
        return data

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: collections.abc.Mapping[str, typing.Any] | None,
        body: typing.Any,
        content_type: str,
        accept: str,
        timeout: tuple[float, float],
        stream: bool,
    ) -> typing.Any:
        self.requests += 1
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        try:
            serialized = self.api.param_serialize(
                method,
                path,
                query_params=params,
                header_params={"Accept": accept, "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(*serialized, _request_timeout=timeout)
        except kubernetes.client.exceptions.ApiException as exc:
            raise _from_api_exception(exc) from exc
        except _TRANSPORT_ERRORS as exc:
            raise ApiUnavailableError(f"{method} {path}: {exc}") from exc
        if not 200 <= response.status <= 299:
            try:
                response.read()  # type: ignore[no-untyped-call]
            except _TRANSPORT_ERRORS as exc:
                raise ApiUnavailableError(f"{method} {path}: {exc}") from exc
            raise _error(response.status, str(response.reason or ""), response.data)
        return response.response

    def list_pages(
        self,
        path: str,
        *,
        query: collections.abc.Mapping[str, typing.Any] | None = None,
        limit: int = 500,
        metadata_only: bool = False,
    ) -> collections.abc.Iterator[Json]:
        """Each page of a list, so callers never hold a whole cluster's objects at once."""
        cont: str | None = None
        accept = _METADATA_ONLY if metadata_only else "application/json"
        while True:
            page = self.request(
                "GET", path, query={**(query or {}), "limit": limit, "continue": cont}, accept=accept
            )
            yield page
            cont = (page.get("metadata") or {}).get("continue") or None
            if not cont:
                return

    def watch(
        self,
        path: str,
        *,
        resource_version: str,
        query: collections.abc.Mapping[str, typing.Any] | None = None,
    ) -> collections.abc.Iterator[Json]:
        """Events of one watch call until the server ends it; raises GoneError when the version expired."""
        full = {
            **(query or {}),
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": WATCH_SECONDS,
        }
        response = self._call(
            "GET",
            path,
            query=full,
            body=None,
            content_type="application/json",
            accept="application/json",
            timeout=(REQUEST_TIMEOUT[0], WATCH_SECONDS + 30),
            stream=True,
        )
        buffer = b""
        try:
            for chunk in response.stream(amt=None, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        obj = event.get("object") or {}
                        if obj.get("code") == 410:
                            raise GoneError(str(obj.get("message", "expired")), status=410)
                        raise ApiUnavailableError(
                            f"watch {path}: {obj.get('message', obj)}", status=int(obj.get("code") or 0)
                        )
                    yield event
        except _TRANSPORT_ERRORS as exc:
            raise ApiUnavailableError(f"watch {path}: {exc}") from exc
        except ValueError as exc:
            raise ApiUnavailableError(f"watch {path}: undecodable event: {exc}") from exc
        finally:
            response.release_conn()

    # --- paths ----------------------------------------------------------------------------------------
    @staticmethod
    def custom_path(
        plural: str, *, namespace: str | None = None, name: str | None = None, sub: str | None = None
    ) -> str:
        path = f"/apis/{GROUP}/{VERSION}"
        if namespace is not None:
            path += f"/namespaces/{namespace}"
        path += f"/{plural}"
        if name is not None:
            path += f"/{name}"
        if sub is not None:
            path += f"/{sub}"
        return path

    # --- writes ---------------------------------------------------------------------------------------
    def apply_status(self, plural: str, *, name: str, namespace: str | None, status: Json, kind: str) -> Json:
        """Server-side apply of ``status`` to the object's status subresource, as this client's field manager.

        Only the status subresource is addressed, so the agent never needs rights on the object itself.
        A missing object is a NotFoundError (the apply does not create it through /status).
        """
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "metadata": {"name": name} if namespace is None else {"name": name, "namespace": namespace},
            "status": status,
        }
        return self.request(
            "PATCH",
            self.custom_path(plural, namespace=namespace, name=name, sub="status"),
            query={"fieldManager": self.field_manager, "force": "true"},
            body=body,
            content_type=_APPLY,
        )

    def apply(self, path: str, body: Json) -> Json:
        """Server-side apply of a whole object (the operator's DaemonSet), forcing ownership of its fields."""
        return self.request(
            "PATCH",
            path,
            query={"fieldManager": self.field_manager, "force": "true"},
            body=body,
            content_type=_APPLY,
        )

    def create(self, path: str, body: Json) -> Json:
        return self.request("POST", path, query={"fieldManager": self.field_manager}, body=body)

    def delete(self, path: str, *, uid: str | None = None) -> Json:
        body: Json = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if uid is not None:
            body["preconditions"] = {"uid": uid}
        return self.request("DELETE", path, body=body)

    def merge_status(self, path: str, status: Json) -> Json:
        return self.request(
            "PATCH",
            path + "/status",
            query={"fieldManager": self.field_manager},
            body={"status": status},
            content_type=_MERGE,
        )

    def get(self, path: str) -> Json:
        return self.request("GET", path)
