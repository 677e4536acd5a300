"""List-then-watch cache of one kind of object, kept fresh from a thread; the agent keeps three of them.

Each object is reduced by ``transform`` to what the agent needs (a PodView, a probe's status), so the cache
stays small. Through an API outage the thread backs off (1 s doubling to ``backoff_max``), lists again
when the API answers, and calls ``on_change`` whenever the cache changed, so the agent converges without
a restart.
"""

from __future__ import annotations

import collections.abc
import logging
import threading
import typing

from nsprobe import kube

T = typing.TypeVar("T")
log = logging.getLogger(__name__)


def object_key(obj: kube.Json) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


class Informer(typing.Generic[T]):
    def __init__(
        self,
        client: kube.Kube,
        *,
        name: str,
        path: str,
        transform: collections.abc.Callable[[kube.Json], T],
        on_change: collections.abc.Callable[[], None],
        query: collections.abc.Mapping[str, str] | None = None,
        backoff_max: float = 8.0,
    ) -> None:
        self.client = client
        self.name = name
        self.path = path
        self.query = dict(query or {})
        self.transform = transform
        self.on_change = on_change
        self.backoff_max = backoff_max
        self.synced = threading.Event()
        self.connected = False
        self.lists = 0  # full lists done: 1 at start, one more after each outage or expired watch
        self.last_error: str | None = None
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- cache ----------------------------------------------------------------------------------------
    def items(self) -> dict[str, T]:
        with self._lock:
            return dict(self._items)

    def get(self, key: str) -> T | None:
        with self._lock:
            return self._items.get(key)

    def put(self, obj: kube.Json) -> None:
        """Record an object the agent itself just wrote, so its next comparison sees the new state."""
        with self._lock:
            self._items[object_key(obj)] = self.transform(obj)

    def forget(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    # --- thread ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                version = self._list()
                backoff = 1.0
                while not self._stop.is_set():
                    version = self._watch(version)
            except kube.GoneError:
                log.info("%s: watch expired, listing again", self.name)
                continue
            except kube.KubeError as exc:
                self.connected = False
                self.last_error = str(exc)
                log.warning("%s: %s; retrying in %.0fs", self.name, exc, backoff)
            except Exception as exc:  # a bug in a transform must not end the agent's view of the cluster
                self.connected = False
                self.last_error = repr(exc)
                log.exception("%s: unexpected error; retrying in %.0fs", self.name, backoff)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.backoff_max)

    def _list(self) -> str:
        fresh: dict[str, T] = {}
        version = ""
        for page in self.client.list_pages(self.path, query=self.query):
            for obj in page.get("items") or ():
                fresh[object_key(obj)] = self.transform(obj)
            version = str((page.get("metadata") or {}).get("resourceVersion") or version)
        with self._lock:
            changed = fresh != self._items
            self._items = fresh
        self.connected = True
        self.last_error = None
        self.lists += 1
        first = not self.synced.is_set()
        self.synced.set()
        if changed or first:
            self.on_change()
        return version

    def _watch(self, version: str) -> str:
        for event in self.client.watch(self.path, resource_version=version, query=self.query):
            if self._stop.is_set():
                break
            kind = event.get("type")
            obj = event.get("object") or {}
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if kind == "BOOKMARK":
                continue
            key = object_key(obj)
            with self._lock:
                before = self._items.get(key)
                if kind == "DELETED":
                    self._items.pop(key, None)
                    changed = before is not None
                else:
                    after = self.transform(obj)
                    self._items[key] = after
                    changed = after != before
            if changed:
                self.on_change()
        return version
