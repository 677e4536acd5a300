#!/usr/bin/env bash
# Builds the test bed's real Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl), etcd and helm from Go modules into a versioned cache directory.
# Called by .ci/run and `make testbed`; a warm run (stamp matches) returns in well under a second.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE_ROOT="${NSPROBE_CACHE:-/var/cache/nsprobe}"
BIN="${CACHE_ROOT}/testbed-k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-helm-${HELM_VERSION}"
STAMP="${BIN}/.stamp"
WANT_STAMP="k8s=${K8S_VERSION} etcd=${ETCD_VERSION} helm=${HELM_VERSION}"

if [[ "${1:-}" == "--print-bin" ]]; then
  echo "${BIN}"
  exit 0
fi

if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT_STAMP}" ]]; then
  echo "testbed: binaries up to date in ${BIN}" >&2
  exit 0
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
mkdir -p "${BIN}"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

started=$(date +%s)

# --- Kubernetes: a generated wrapper module. k8s.io/kubernetes maps its staging modules to ./staging
# with v0.0.0 placeholders, so every one of them needs a replace to the matching published v0.x tag.
k8s_mod="${work}/k8s"
mkdir -p "${k8s_mod}"
gomod_path="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
staging_minor="v0.${K8S_VERSION#v1.}"
{
  echo "module nsprobe.test/k8s-testbed"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes ${K8S_VERSION}"
  echo
  grep -E '=>[[:space:]]*\./staging/' "${gomod_path}" | awk '{print $1}' | sort -u |
    while read -r module; do echo "replace ${module} => ${module} ${staging_minor}"; done
} > "${k8s_mod}/go.mod"
echo >&2 "testbed: $(grep -c '^replace' "${k8s_mod}/go.mod") staging replaces generated from ${gomod_path}"
cat > "${k8s_mod}/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
(
  cd "${k8s_mod}"
  go mod tidy
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION}"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION}"
  go build -trimpath -ldflags "${ldflags}" -o "${BIN}/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
)

# --- etcd: its server module carries replace directives, so `go install` refuses it; a wrapper
# module whose main calls etcdmain.Main builds the real server.
etcd_mod="${work}/etcd"
mkdir -p "${etcd_mod}"
cat > "${etcd_mod}/go.mod" <<GOMOD
module nsprobe.test/etcd-testbed

go 1.26

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
GOMOD
cat > "${etcd_mod}/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
(cd "${etcd_mod}" && go mod tidy && go build -trimpath -ldflags "-s -w" -o "${BIN}/etcd" .)

# --- helm: a plain module without replace directives.
GOBIN="${BIN}" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"

echo "${WANT_STAMP}" > "${STAMP}"
echo >&2 "testbed: built into ${BIN} in $(( $(date +%s) - started ))s"
