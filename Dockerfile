# One image for the nsprobe operator, agent and kubectl plugin; the entrypoint is `nsprobe`
# (`nsprobe operator`, `nsprobe agent`, `nsprobe scan`; `kubectl-nsprobe` is on PATH as well).
#
# Build without a registry: hack/build-image.sh (podman, base made with debootstrap). Elsewhere:
#   docker build --build-arg BASE_IMAGE=python:3.11-slim-bookworm -t nsprobe:0.1.0 .
# Behind a TLS-intercepting proxy, hand pip the proxy's CA:
#   docker build --build-arg EXTRA_CA_CERTS="$(cat corp-ca.pem)" ...
#
# The image runs as uid 65532 (non-root). Only the chart's agent securityContext (profile privileged or
# minimal) gives the agent root and capabilities on the node.

# Any Debian-like image with python3 >= 3.11 and the venv module; builder and runtime use the same one,
# because the virtualenv links to the base's interpreter.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# Extra CA certificates (PEM text) for pip, e.g. a TLS-intercepting proxy's. Used in this stage only.
ARG EXTRA_CA_CERTS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN set -eu; \
    mkdir -p /opt/build-ca; \
    if [ -n "${EXTRA_CA_CERTS}" ]; then \
      printf '%s\n' "${EXTRA_CA_CERTS}" > /opt/build-ca/extra.pem; \
      if [ -d /usr/local/share/ca-certificates ] && command -v update-ca-certificates >/dev/null; then \
        cp /opt/build-ca/extra.pem /usr/local/share/ca-certificates/nsprobe-build-extra.crt; \
        update-ca-certificates >/dev/null; \
      fi; \
      cat /etc/ssl/certs/ca-certificates.crt /opt/build-ca/extra.pem > /opt/build-ca/bundle.pem 2>/dev/null \
        || cp /opt/build-ca/extra.pem /opt/build-ca/bundle.pem; \
    fi; \
    python3 -m venv /opt/venv; \
    python3 -c 'import sys; assert sys.version_info >= (3, 11), sys.version'
# Only what the package build needs (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md /src/
COPY operator /src/operator
COPY plugin /src/plugin
RUN set -eu; \
    if [ -s /opt/build-ca/bundle.pem ]; then export PIP_CERT=/opt/build-ca/bundle.pem; fi; \
    /opt/venv/bin/pip install --no-compile /src; \
    /opt/venv/bin/python -m compileall -q /opt/venv/lib; \
    /opt/venv/bin/nsprobe --version

FROM ${BASE_IMAGE} AS runtime
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
LABEL org.opencontainers.image.title="nsprobe" \
      org.opencontainers.image.description="Kernel truth about Kubernetes pods: /tmp backing, page cache vs real memory, namespace sharing. Operator, agent and kubectl plugin." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
# A named non-root user (distroless' uid), so tools that look up the current user find one.
RUN set -eu; \
    grep -q '^nonroot:' /etc/group || echo 'nonroot:x:65532:' >> /etc/group; \
    grep -q '^nonroot:' /etc/passwd || echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin' >> /etc/passwd
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
USER 65532:65532
ENTRYPOINT ["nsprobe"]
CMD ["--help"]
