#!/usr/bin/env bash
# Builds the nsprobe image (Dockerfile at the repo root) with podman and no container registry: the base
# image is a Debian bookworm made locally with debootstrap, cached under /var/cache/nsprobe/image-base/
# and imported with `podman import`. pip inside the build still reaches PyPI.
# Called by tests/charts/test_image_builds_and_runs.py (marker slow) and by hand:
#   bash hack/build-image.sh                     # -> localhost/nsprobe:<version> in podman's storage
#   bash hack/build-image.sh --tag my/nsprobe:dev --base python:3.11-slim-bookworm   # a base you have
# Environment:
#   NSPROBE_CACHE          cache root (default /var/cache/nsprobe)
#   NSPROBE_PODMAN_ROOT    private podman storage dir (default: podman's own, so `podman run` sees the image)
#   NSPROBE_EXTRA_CA       PEM file handed to the build as EXTRA_CA_CERTS (default: the host's
#                          /usr/local/share/ca-certificates/*.crt, i.e. a TLS-intercepting proxy's CA)
#   NSPROBE_DEBIAN_MIRROR  debootstrap mirror (default http://deb.debian.org/debian)
#   NSPROBE_OCI_RUNTIME    OCI runtime podman uses (default runc)
# Prints the containers.conf it used with --print-conf DIR (writes DIR/containers.conf and exits), so
# callers can `podman run` the image under the same settings.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "${root}/pyproject.toml" | head -n1)"
tag="localhost/nsprobe:${version}"
base=""
print_conf=""
while (($#)); do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    --print-conf) print_conf="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done

cache="${NSPROBE_CACHE:-/var/cache/nsprobe}/image-base"
mirror="${NSPROBE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
include=python3,python3-venv,ca-certificates

# podman's configuration lives in a private directory, never in /etc. On the test-bed VM: PID 1 is not
# systemd (cgroupfs manager, file event log); crun 1.8 refuses hybrid cgroups (a cgroup2 mount with a
# controller) while runc handles them; and the runtime may not raise rlimits to the host's values, so
# containers get modest explicit ones (default_ulimits).
conf_dir="$(mktemp -d)"
trap 'rm -rf "${conf_dir}"' EXIT
cat > "${conf_dir}/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "${NSPROBE_OCI_RUNTIME:-runc}"
CONF
if [[ -n "${print_conf}" ]]; then
  mkdir -p "${print_conf}" && cp "${conf_dir}/containers.conf" "${print_conf}/containers.conf"
  echo "${print_conf}/containers.conf"
  exit 0
fi
export CONTAINERS_CONF="${conf_dir}/containers.conf"
podman=(podman)
if [[ -n "${NSPROBE_PODMAN_ROOT:-}" ]]; then
  mkdir -p "${NSPROBE_PODMAN_ROOT}"
  podman+=(--root "${NSPROBE_PODMAN_ROOT}/storage" --runroot "${NSPROBE_PODMAN_ROOT}/run"
           --storage-driver overlay)
fi

started=$(date +%s)
if [[ -z "${base}" ]]; then
  # Keyed by suite, package set and month: a fresh base (security updates) at most once a month.
  key="${suite}-minbase-$(echo "${include}" | md5sum | cut -c1-8)-$(date +%Y%m)"
  tarball="${cache}/${key}.tar"
  if [[ ! -s "${tarball}" ]]; then
    mkdir -p "${cache}"
    rootfs="$(mktemp -d "${cache}/rootfs.XXXXXX")"
    echo "build-image: debootstrap ${suite} (${include}) from ${mirror}"
    t0=$(date +%s)
    debootstrap --variant=minbase --include="${include}" "${suite}" "${rootfs}" "${mirror}" \
      > "${cache}/${key}.debootstrap.log" 2>&1 || {
        tail -n 20 "${cache}/${key}.debootstrap.log" >&2; rm -rf "${rootfs}"; exit 1; }
    rm -rf "${rootfs}"/var/cache/apt/archives/*.deb "${rootfs}"/var/lib/apt/lists/*
    tar -C "${rootfs}" --numeric-owner -cf "${tarball}.part" .
    mv "${tarball}.part" "${tarball}"
    rm -rf "${rootfs}"
    echo "build-image: base rootfs ready in $(( $(date +%s) - t0 ))s: ${tarball}"
    # Older months' bases are no longer used.
    find "${cache}" -maxdepth 1 -name "${suite}-minbase-*.tar" ! -name "${key}.tar" -delete
  else
    echo "build-image: cached base rootfs ${tarball}"
  fi
  base="localhost/nsprobe-base:${key}"
  if ! "${podman[@]}" image exists "${base}"; then
    "${podman[@]}" import --quiet --change 'CMD ["/bin/bash"]' "${tarball}" "${base}" >/dev/null
  fi
fi

extra_ca=""
if [[ -n "${NSPROBE_EXTRA_CA:-}" ]]; then
  extra_ca="$(cat "${NSPROBE_EXTRA_CA}")"
elif compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  extra_ca="$(cat /usr/local/share/ca-certificates/*.crt)"
fi

revision="$(git -C "${root}" rev-parse HEAD 2>/dev/null || true)"
t0=$(date +%s)
# Host network: the build's pip reaches PyPI without podman's CNI/netavark set-up.
"${podman[@]}" build --network=host --layers=false \
  --build-arg "BASE_IMAGE=${base}" \
  --build-arg "EXTRA_CA_CERTS=${extra_ca}" \
  --build-arg "VERSION=${version}" \
  --build-arg "REVISION=${revision}" \
  --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --tag "${tag}" --file "${root}/Dockerfile" "${root}"
echo "build-image: built ${tag} from ${base} (podman build $(( $(date +%s) - t0 ))s, total $(( $(date +%s) - started ))s)"
