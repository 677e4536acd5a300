"""Starts, records and stops a real Kubernetes control plane for the pytest fixtures and `make cluster-up`.

The binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) come from
hack/build-testbed.sh, or from the directory named by NSPROBE_TESTBED_BIN. Each bed lives in its own
directory under the temp dir (`nsprobe-cluster-<id>/`) with its certificates, data, logs, kubeconfigs and a
`state.json` that records every child pid, so a bed can be stopped by pid from another process.

Command line (see `main`):
    python -m nsprobe.testing.controlplane up       # start the CLI bed (or reuse the running one)
    python -m nsprobe.testing.controlplane up --new # start an additional, independent bed
    python -m nsprobe.testing.controlplane down     # stop the CLI bed; --dir DIR or --stale for others
    python -m nsprobe.testing.controlplane status   # list beds under the temp dir
`up` prints `export KUBECONFIG=...` and `export PATH=<bin>:$PATH`, so `eval "$(... up)"` works.
"""

from __future__ import annotations

import argparse
import collections.abc
import contextlib
import dataclasses
import datetime
import ipaddress
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import IO

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import oid

K8S_VERSION = "v1.37.2"
BIN_ENV = "NSPROBE_TESTBED_BIN"
BASE_ENV = "NSPROBE_CLUSTER_BASE"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
SERVICE_CIDR = "10.0.0.0/24"
SERVICE_IP = "10.0.0.1"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
DIR_PREFIX = "nsprobe-cluster-"
STATE_FILE = "state.json"
# The bed that `up` (without --new) started; `down` without --dir stops it.
CURRENT_POINTER = "nsprobe-cluster-current"
# A node without heartbeats goes NotReady after this; the default (50 s) would make node tests slow.
NODE_MONITOR_GRACE_PERIOD = "20s"
NODE_MONITOR_PERIOD = "2s"
# Component order: started left to right, stopped right to left.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
STOP_GRACE_SECONDS = 15.0


class ControlPlaneError(RuntimeError):
    """A component could not be found, started or stopped."""


class BinariesMissingError(ControlPlaneError):
    """The testbed binaries are not built (run hack/build-testbed.sh)."""


def repo_root() -> pathlib.Path | None:
    """The source checkout holding hack/build-testbed.sh, when running from one."""
    root = pathlib.Path(__file__).resolve().parents[3]
    return root if (root / "hack" / "build-testbed.sh").is_file() else None


def find_bin_dir() -> pathlib.Path:
    """The directory of testbed binaries: $NSPROBE_TESTBED_BIN, else what the build script prints."""
    from_env = os.environ.get(BIN_ENV)
    if from_env:
        return pathlib.Path(from_env)
    root = repo_root()
    if root is None:
        raise BinariesMissingError(f"set {BIN_ENV}: no hack/build-testbed.sh next to {__file__}")
    out = subprocess.run(
        ["bash", str(root / "hack" / "build-testbed.sh"), "--print-bin"],
        check=True,
        capture_output=True,
        text=True,
    )
    return pathlib.Path(out.stdout.strip())


def missing_binaries(bin_dir: pathlib.Path) -> list[str]:
    """Names from BINARIES that are absent or not executable in bin_dir."""
    return [name for name in BINARIES if not os.access(bin_dir / name, os.X_OK)]


def base_dir() -> pathlib.Path:
    """Where bed directories and the CLI pointer live: $NSPROBE_CLUSTER_BASE or the temp dir."""
    return pathlib.Path(os.environ.get(BASE_ENV) or tempfile.gettempdir())


def wait_for(
    check: collections.abc.Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
) -> None:
    """Poll check() until it returns True; raise TimeoutError naming `what` after timeout seconds.

    Exceptions from check() count as "not yet", because the thing polled is usually still starting.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            if check():
                return
        except Exception as error:  # a component that is still starting refuses, resets or 5xxs
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def pid_alive(pid: int, *, argv0: str | None = None) -> bool:
    """Whether pid runs (not a zombie) and, when argv0 is given, still runs that program.

    The argv0 check guards against pid reuse when a pid comes from a state file of a finished bed.
    """
    proc = pathlib.Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    if stat[stat.rindex(")") + 2 :].startswith("Z"):
        return False
    if argv0 is None:
        return True
    return cmdline.split(b"\0", 1)[0].decode(errors="replace") == argv0


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports; all sockets stay open until every port is chosen."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclasses.dataclass(frozen=True)
class Ports:
    """The loopback ports of one bed; kept across stop/start of a component."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(*_free_ports(5))


# --- certificates ------------------------------------------------------------------------------------


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signing only; a CA also signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_key(path: pathlib.Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: pathlib.Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organizations: collections.abc.Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


@dataclasses.dataclass(frozen=True)
class _CertificateAuthority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls) -> _CertificateAuthority:
        # ECDSA keys: generation takes microseconds, where RSA costs a noticeable part of start-up.
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(f"nsprobe-testbed-ca-{secrets.token_hex(4)}")
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(hours=1))
            .not_valid_after(_now() + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert=cert, key=key)

    def issue(
        self,
        *,
        common_name: str,
        organizations: collections.abc.Sequence[str] = (),
        dns_names: collections.abc.Sequence[str] = (),
        ip_addresses: collections.abc.Sequence[str] = (),
        server: bool = False,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = oid.ExtendedKeyUsageOID.SERVER_AUTH if server else oid.ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organizations))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(hours=1))
            .not_valid_after(_now() + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


# --- the control plane -------------------------------------------------------------------------------


class ControlPlane:
    """One bed: etcd, kube-apiserver, kube-controller-manager and kube-scheduler on random loopback ports.

    Use as a context manager, or call start() and stop(). With detached=True (the CLI) the processes
    survive this Python process; otherwise they get SIGKILL when the thread that started them dies
    (through `setpriv --pdeathsig`), so a killed pytest does not leak a control plane. Start and stop
    components from the thread that called start() (the main thread under pytest) for that reason.

    Attributes a test may use: root, bin_dir, ports, server, kubeconfig, ca_file, admin_token,
    audit_log (JSON lines, Metadata level, written before each response), log_dir, startup_seconds.
    """

    def __init__(
        self,
        *,
        bin_dir: pathlib.Path | None = None,
        parent_dir: pathlib.Path | None = None,
        detached: bool = False,
    ) -> None:
        self.bin_dir = (bin_dir or find_bin_dir()).resolve()
        missing = missing_binaries(self.bin_dir)
        if missing:
            raise BinariesMissingError(
                f"missing {', '.join(missing)} in {self.bin_dir}; run hack/build-testbed.sh or set {BIN_ENV}"
            )
        self.detached = detached
        self._parent_dir = parent_dir or base_dir()
        self.root = pathlib.Path()
        self.ports = Ports(0, 0, 0, 0, 0)
        self.admin_token = ""
        self.startup_seconds: float | None = None
        self.timings: dict[str, float] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._pids: dict[str, int] = {}
        self._owner_pid: int | None = None if detached else os.getpid()
        self._started = False

    # Paths, all under root.
    @property
    def pki(self) -> pathlib.Path:
        return self.root / "pki"

    @property
    def log_dir(self) -> pathlib.Path:
        return self.root / "logs"

    @property
    def kubeconfig(self) -> pathlib.Path:
        """Admin kubeconfig (client certificate in group system:masters)."""
        return self.root / "admin.kubeconfig"

    @property
    def ca_file(self) -> pathlib.Path:
        return self.pki / "ca.crt"

    @property
    def audit_log(self) -> pathlib.Path:
        return self.root / "audit" / "audit.log"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def state_file(self) -> pathlib.Path:
        return self.root / STATE_FILE

    @property
    def pids(self) -> dict[str, int]:
        """Pid of every component started and not yet stopped."""
        return dict(self._pids)

    def log_path(self, component: str) -> pathlib.Path:
        return self.log_dir / f"{component}.log"

    def env(self) -> dict[str, str]:
        """Environment variables that point kubectl (the built one, first on PATH) at this bed."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def kubectl(
        self, args: collections.abc.Sequence[str], *, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this bed as admin."""
        return subprocess.run(
            [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    # --- lifecycle -----------------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, *, timeout: float = 180.0) -> None:
        """Create the bed directory and credentials, start every component and wait until usable.

        On failure everything already started is stopped and the error carries the failing
        component's log tail; the directory is kept so the full logs can be read.
        """
        if self._started:
            raise ControlPlaneError(f"control plane in {self.root} already started")
        began = time.monotonic()
        self._parent_dir.mkdir(parents=True, exist_ok=True)
        self.root = pathlib.Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=self._parent_dir))
        self._started = True
        try:
            self.ports = Ports.pick()
            self._write_credentials()
            self._write_state()
            deadline = began + timeout
            self.start_etcd(timeout=deadline - time.monotonic())
            self.start_apiserver(timeout=deadline - time.monotonic())
            self.start_controller_manager(timeout=deadline - time.monotonic())
            self.start_scheduler(timeout=deadline - time.monotonic())
            # The default ServiceAccount appears only once the controller-manager's controllers run, and
            # pods in a namespace are refused until it exists: a bed without it is not usable yet.
            mark = time.monotonic()
            wait_for(
                lambda: self._api_get("/api/v1/namespaces/default/serviceaccounts/default") == 200,
                timeout=max(deadline - time.monotonic(), 1.0),
                what="the default ServiceAccount (controller-manager controllers)",
            )
            self.timings["controllers"] = time.monotonic() - mark
        except BaseException:
            self.stop(keep_dir=True)
            raise
        self.startup_seconds = time.monotonic() - began
        self._write_state()

    def stop(self, *, keep_dir: bool = False) -> None:
        """Stop every component by pid (SIGTERM, then SIGKILL) and remove the bed directory."""
        errors: list[str] = []
        for component in reversed(COMPONENTS):
            try:
                self._stop(component)
            except ControlPlaneError as error:
                errors.append(str(error))
        if self._started and not keep_dir and self.root.name.startswith(DIR_PREFIX):
            shutil.rmtree(self.root, ignore_errors=True)
            pointer = base_dir() / CURRENT_POINTER
            with contextlib.suppress(OSError):
                if pointer.read_text().strip() == str(self.root):
                    pointer.unlink()
        self._started = False
        if errors:
            raise ControlPlaneError("; ".join(errors))

    def start_etcd(self, *, timeout: float = 60.0) -> None:
        """Start etcd on the bed's ports and data dir (kept across restarts) and wait for /health."""
        client = f"http://127.0.0.1:{self.ports.etcd_client}"
        peer = f"http://127.0.0.1:{self.ports.etcd_peer}"
        argv = [
            str(self.bin_dir / "etcd"),
            "--name=nsprobe",
            f"--data-dir={self.root / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=nsprobe={peer}",
            # Test data is disposable; fsync on every write would make each API write cost a disk flush.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        self._start("etcd", argv, ready=self._etcd_healthy, timeout=timeout)

    def stop_etcd(self) -> None:
        self._stop("etcd")

    def start_apiserver(self, *, timeout: float = 120.0) -> None:
        """Start kube-apiserver on the bed's port and wait for /readyz."""
        pki = self.pki
        argv = [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports.apiserver}",
            f"--cert-dir={self.root / 'apiserver-certs'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
            f"--audit-policy-file={self.root / 'audit' / 'policy.yaml'}",
            f"--audit-log-path={self.audit_log}",
            # Blocking mode writes each event before the response, so a test can count writes right away.
            "--audit-log-mode=blocking",
        ]
        self._start("kube-apiserver", argv, ready=self._apiserver_ready, timeout=timeout)

    def stop_apiserver(self) -> None:
        self._stop("kube-apiserver")

    def start_controller_manager(self, *, timeout: float = 60.0) -> None:
        kubeconfig = self.root / "controller-manager.kubeconfig"
        argv = [
            str(self.bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports.controller_manager}",
            f"--cert-dir={self.root / 'controller-manager-certs'}",
            f"--root-ca-file={self.pki / 'ca.crt'}",
            f"--service-account-private-key-file={self.pki / 'sa.key'}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            f"--cluster-signing-cert-file={self.pki / 'ca.crt'}",
            f"--cluster-signing-key-file={self.pki / 'ca.key'}",
            f"--node-monitor-grace-period={NODE_MONITOR_GRACE_PERIOD}",
            f"--node-monitor-period={NODE_MONITOR_PERIOD}",
        ]
        ready = self._healthz_checker(self.ports.controller_manager)
        self._start("kube-controller-manager", argv, ready=ready, timeout=timeout)

    def stop_controller_manager(self) -> None:
        self._stop("kube-controller-manager")

    def start_scheduler(self, *, timeout: float = 60.0) -> None:
        kubeconfig = self.root / "scheduler.kubeconfig"
        argv = [
            str(self.bin_dir / "kube-scheduler"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports.scheduler}",
            f"--cert-dir={self.root / 'scheduler-certs'}",
            "--leader-elect=false",
        ]
        self._start(
            "kube-scheduler", argv, ready=self._healthz_checker(self.ports.scheduler), timeout=timeout
        )

    def stop_scheduler(self) -> None:
        self._stop("kube-scheduler")

    def user_kubeconfig(self, *, user: str, groups: collections.abc.Sequence[str] = ()) -> pathlib.Path:
        """A kubeconfig with a fresh client certificate for user (CN) in groups (O), signed by the bed's CA.

        For identities that must be real in the audit log and in authorization, e.g. system:node:<name>.
        """
        ca = self._load_ca()
        cert, key = ca.issue(common_name=user, organizations=groups)
        slug = "".join(ch if ch.isalnum() else "-" for ch in user)
        stem = f"user-{slug}-{secrets.token_hex(3)}"
        _write_cert(self.pki / f"{stem}.crt", cert)
        _write_key(self.pki / f"{stem}.key", key)
        path = self.root / f"{stem}.kubeconfig"
        self._write_kubeconfig(path, user=user, cert=self.pki / f"{stem}.crt", key=self.pki / f"{stem}.key")
        return path

    # --- state ---------------------------------------------------------------------------------------

    @classmethod
    def attach(cls, root: pathlib.Path) -> ControlPlane:
        """A handle on a bed recorded in root/state.json by another process, e.g. for `down`."""
        state = json.loads((root / STATE_FILE).read_text())
        bed = cls.__new__(cls)
        bed.bin_dir = pathlib.Path(state["bin_dir"])
        bed.detached = bool(state["detached"])
        bed._parent_dir = root.parent
        bed.root = root
        bed.ports = Ports(**state["ports"])
        bed.admin_token = state["admin_token"]
        bed.startup_seconds = state.get("startup_seconds")
        bed.timings = dict(state.get("timings", {}))
        bed._procs = {}
        bed._pids = {name: int(pid) for name, pid in state["pids"].items()}
        bed._owner_pid = state.get("owner_pid")
        bed._started = True
        return bed

    @property
    def owner_pid(self) -> int | None:
        """The process whose death ends this bed (pytest), or None for a detached CLI bed."""
        return self._owner_pid

    def running(self) -> dict[str, bool]:
        """Whether each recorded component's pid still runs its binary."""
        return {name: pid_alive(pid, argv0=self._argv0(name)) for name, pid in self._pids.items()}

    def _write_state(self) -> None:
        state = {
            "root": str(self.root),
            "bin_dir": str(self.bin_dir),
            "detached": self.detached,
            "owner_pid": self._owner_pid,
            "ports": dataclasses.asdict(self.ports),
            "pids": self._pids,
            "kubeconfig": str(self.kubeconfig),
            "server": self.server,
            "audit_log": str(self.audit_log),
            "admin_token": self.admin_token,
            "startup_seconds": self.startup_seconds,
            "timings": self.timings,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    # --- internals -----------------------------------------------------------------------------------

    def _argv0(self, component: str) -> str:
        return str(self.bin_dir / component)

    def _start(
        self,
        component: str,
        argv: list[str],
        *,
        ready: collections.abc.Callable[[], bool],
        timeout: float,
    ) -> None:
        if self._pids.get(component) and pid_alive(self._pids[component], argv0=self._argv0(component)):
            raise ControlPlaneError(f"{component} already runs as pid {self._pids[component]}")
        mark = time.monotonic()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(component)
        prefix: list[str] = []
        setpriv = shutil.which("setpriv")
        if not self.detached and setpriv:
            # KILL, not TERM: with its etcd gone at the same moment, a TERMed apiserver lingers in shutdown.
            prefix = [setpriv, "--pdeathsig", "KILL", "--"]
        # Children must not pick up a caller's ETCD_* settings, which etcd reads as flags.
        env = {key: value for key, value in os.environ.items() if not key.startswith("ETCD_")}
        with log_path.open("ab") as log:
            log.write(f"\n=== {datetime.datetime.now().isoformat()} {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                prefix + argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=env,
                # Its own session: a Ctrl-C in the terminal reaches pytest's teardown, not the components.
                start_new_session=True,
            )
        self._procs[component] = proc
        self._pids[component] = proc.pid
        self._write_state()
        deadline = time.monotonic() + max(timeout, 1.0)
        while True:
            code = proc.poll()
            if code is not None:
                raise ControlPlaneError(
                    f"{component} exited with code {code} during start-up; last lines of {log_path}:\n"
                    + _tail(log_path)
                )
            try:
                if ready():
                    break
            except (OSError, ssl.SSLError, urllib.error.URLError, ValueError):
                pass  # not listening or not answering yet
            if time.monotonic() >= deadline:
                raise ControlPlaneError(
                    f"{component} (pid {proc.pid}) not ready after {timeout:.0f}s; "
                    f"last lines of {log_path}:\n" + _tail(log_path)
                )
            time.sleep(0.2)
        self.timings[component] = time.monotonic() - mark
        self._write_state()

    def _stop(self, component: str) -> None:
        pid = self._pids.pop(component, None)
        proc = self._procs.pop(component, None)
        if pid is None:
            return
        try:
            if proc is not None:
                _terminate_child(proc)
            elif pid_alive(pid, argv0=self._argv0(component)):
                _terminate_foreign(pid, argv0=self._argv0(component))
        finally:
            if self.root.is_dir():
                self._write_state()

    def _write_credentials(self) -> None:
        pki = self.pki
        pki.mkdir(mode=0o700)
        ca = _CertificateAuthority.create()
        _write_cert(pki / "ca.crt", ca.cert)
        _write_key(pki / "ca.key", ca.key)
        serving, serving_key = ca.issue(
            common_name="kube-apiserver",
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ip_addresses=["127.0.0.1", SERVICE_IP],
            server=True,
        )
        _write_cert(pki / "apiserver.crt", serving)
        _write_key(pki / "apiserver.key", serving_key)
        identities = {
            "admin": ("admin", ["system:masters"]),
            "controller-manager": ("system:kube-controller-manager", []),
            "scheduler": ("system:kube-scheduler", []),
        }
        for stem, (user, groups) in identities.items():
            cert, key = ca.issue(common_name=user, organizations=groups)
            _write_cert(pki / f"{stem}.crt", cert)
            _write_key(pki / f"{stem}.key", key)
            self._write_kubeconfig(
                self.root / f"{stem}.kubeconfig", user=user, cert=pki / f"{stem}.crt", key=pki / f"{stem}.key"
            )
        # The aggregation layer authenticates to extension apiservers with a front-proxy client certificate
        # from a CA of its own; delegated authentication in the scheduler and controller-manager expects it.
        front_ca = _CertificateAuthority.create()
        _write_cert(pki / "front-proxy-ca.crt", front_ca.cert)
        proxy_cert, proxy_key = front_ca.issue(common_name="front-proxy-client")
        _write_cert(pki / "front-proxy-client.crt", proxy_cert)
        _write_key(pki / "front-proxy-client.key", proxy_key)
        # Service-account tokens are signed with RS256, the algorithm every client library verifies.
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_key(pki / "sa.key", sa_key)
        (pki / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        # A static token for people using curl; format: token,user,uid,"group1,group2".
        self.admin_token = secrets.token_urlsafe(32)
        (pki / "tokens.csv").write_text(f'{self.admin_token},admin-token,admin-token-uid,"system:masters"\n')
        (pki / "tokens.csv").chmod(0o600)
        audit = self.root / "audit"
        audit.mkdir()
        policy = {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived"],
            "rules": [{"level": "Metadata"}],
        }
        (audit / "policy.yaml").write_text(yaml.safe_dump(policy))

    def _load_ca(self) -> _CertificateAuthority:
        cert = x509.load_pem_x509_certificate((self.pki / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((self.pki / "ca.key").read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ControlPlaneError(f"unexpected CA key type {type(key).__name__}")
        return _CertificateAuthority(cert=cert, key=key)

    def _write_kubeconfig(
        self, path: pathlib.Path, *, user: str, cert: pathlib.Path, key: pathlib.Path
    ) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "nsprobe",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
            "contexts": [{"name": "nsprobe", "context": {"cluster": "nsprobe", "user": user}}],
            "current-context": "nsprobe",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)

    def _admin_tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return context

    def _api_get(self, path: str) -> int:
        """HTTP status of an admin GET; error responses are closed here, or their sockets would leak."""
        return _get_status(self.server + path, context=self._admin_tls())

    def _etcd_healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.ports.etcd_client}/health"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(json.load(response).get("health") == "true")
        except urllib.error.HTTPError as error:
            error.close()  # 503 while etcd has no leader yet
            return False

    def _apiserver_ready(self) -> bool:
        # /readyz answers 500 while post-start hooks (RBAC bootstrap, system namespaces) still run.
        return self._api_get("/readyz") == 200

    def _healthz_checker(self, port: int) -> collections.abc.Callable[[], bool]:
        # controller-manager and scheduler serve a self-signed certificate generated at start-up.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

        def check() -> bool:
            return _get_status(f"https://127.0.0.1:{port}/healthz", context=context) == 200

        return check


def _get_status(url: str, *, context: ssl.SSLContext | None = None) -> int:
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def _tail(path: pathlib.Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(text.splitlines()[-lines:])


def _terminate_child(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_GRACE_SECONDS)


def _terminate_foreign(pid: int, *, argv0: str) -> None:
    """SIGTERM, wait, SIGKILL a process this one did not start (its parent reaps it, not us)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: not pid_alive(pid), timeout=STOP_GRACE_SECONDS, what=f"pid {pid} to exit")
        return
    # Re-check identity: the pid may have exited and been reused while we waited.
    if pid_alive(pid, argv0=argv0):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        try:
            wait_for(lambda: not pid_alive(pid), timeout=STOP_GRACE_SECONDS, what=f"pid {pid} to die")
        except TimeoutError as error:
            raise ControlPlaneError(f"{argv0} (pid {pid}) survived SIGKILL") from error


# --- discovery of beds and the command line ----------------------------------------------------------


def recorded_beds() -> list[ControlPlane]:
    """Every bed with a state file under base_dir(), running or not."""
    beds = []
    for state in sorted(base_dir().glob(f"{DIR_PREFIX}*/{STATE_FILE}")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            beds.append(ControlPlane.attach(state.parent))
    return beds


def prune_stale() -> list[pathlib.Path]:
    """Stop and remove beds whose owning process (a pytest run) is gone; returns their directories.

    Detached CLI beds have no owner and are never pruned.
    """
    pruned = []
    for bed in recorded_beds():
        owner = bed.owner_pid
        if owner is None or pid_alive(owner):
            continue
        with contextlib.suppress(ControlPlaneError):
            bed.stop()
        shutil.rmtree(bed.root, ignore_errors=True)
        pruned.append(bed.root)
    return pruned


def current_bed() -> ControlPlane | None:
    """The bed `up` started (without --new), if its directory still exists."""
    pointer = base_dir() / CURRENT_POINTER
    try:
        root = pathlib.Path(pointer.read_text().strip())
        return ControlPlane.attach(root)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _print_exports(bed: ControlPlane, out: IO[str]) -> None:
    out.write(f"export KUBECONFIG={bed.kubeconfig}\n")
    out.write(f"export PATH={bed.bin_dir}:$PATH\n")


def _cmd_up(args: argparse.Namespace) -> int:
    current = current_bed()
    if current is not None and not args.new:
        states = current.running()
        if states and all(states.values()):
            print(
                f"nsprobe: a cluster is already running in {current.root} ({current.server}, pids "
                f"{current.pids}); printing its settings. `up --new` starts a second, independent one; "
                "`down` stops this one.",
                file=sys.stderr,
            )
            _print_exports(current, sys.stdout)
            return 0
        print(f"nsprobe: cluster in {current.root} is not fully running; stopping it first", file=sys.stderr)
        with contextlib.suppress(ControlPlaneError):
            current.stop()
    bed = ControlPlane(detached=True)
    try:
        bed.start(timeout=args.timeout)
    except (ControlPlaneError, TimeoutError) as error:
        print(
            f"nsprobe: cluster start-up failed (logs kept in {bed.root / 'logs'}): {error}", file=sys.stderr
        )
        return 1
    if not args.new:
        (base_dir() / CURRENT_POINTER).write_text(f"{bed.root}\n")
    how_down = "down" if not args.new else f"down --dir {bed.root}"
    print(
        f"nsprobe: cluster {bed.server} ready in {bed.startup_seconds:.1f}s; dir {bed.root}; "
        f"stop with: python -m nsprobe.testing.controlplane {how_down}",
        file=sys.stderr,
    )
    _print_exports(bed, sys.stdout)
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    if args.stale:
        for root in prune_stale():
            print(f"nsprobe: removed stale cluster {root}", file=sys.stderr)
        return 0
    bed = ControlPlane.attach(pathlib.Path(args.dir)) if args.dir else current_bed()
    if bed is None:
        print("nsprobe: no cluster started by `up` is recorded; nothing to stop", file=sys.stderr)
        return 0
    bed.stop()
    print(f"nsprobe: stopped cluster {bed.root}", file=sys.stderr)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    current = current_bed()
    for bed in recorded_beds():
        states = bed.running()
        alive = (
            "running" if states and all(states.values()) else "partial" if any(states.values()) else "dead"
        )
        owner = "cli" if bed.owner_pid is None else f"owner pid {bed.owner_pid}"
        mark = "*" if current is not None and current.root == bed.root else " "
        print(f"{mark} {bed.root}  {bed.server}  {alive}  {owner}  kubeconfig={bed.kubeconfig}")
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    bed = ControlPlane.attach(pathlib.Path(args.dir)) if args.dir else current_bed()
    if bed is None:
        print("nsprobe: no cluster started by `up` is recorded", file=sys.stderr)
        return 1
    _print_exports(bed, sys.stdout)
    return 0


def main(argv: collections.abc.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nsprobe.testing.controlplane",
        description="Run a real Kubernetes control plane for nsprobe development.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the CLI cluster, or print the settings of the running one")
    up.add_argument("--new", action="store_true", help="start an additional independent cluster")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for start-up")
    up.set_defaults(func=_cmd_up)
    down = sub.add_parser("down", help="stop the CLI cluster")
    down.add_argument("--dir", help="stop the cluster recorded in this directory instead")
    down.add_argument("--stale", action="store_true", help="stop clusters whose pytest process is gone")
    down.set_defaults(func=_cmd_down)
    status = sub.add_parser("status", help="list recorded clusters (* marks the CLI one)")
    status.set_defaults(func=_cmd_status)
    env = sub.add_parser("env", help="print the export lines of the CLI cluster")
    env.add_argument("--dir", help="a cluster directory instead of the CLI one")
    env.set_defaults(func=_cmd_env)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
