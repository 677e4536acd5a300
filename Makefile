# nsprobe developer entry points. `make test` is what CI runs (through .ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
TESTBED_BIN := $(shell bash hack/build-testbed.sh --print-bin)
export PATH := $(CURDIR)/$(VENV)/bin:$(TESTBED_BIN):$(PATH)

.PHONY: venv run test test-fast lint testbed cluster-up cluster-down cluster-status bench image clean

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

## run: scan this host (no cluster needed)
run: venv
	$(VENV)/bin/nsprobe scan -o wide

## test: the whole suite, every tier (kernel tier needs root; control-plane tier needs `make testbed`)
test: venv
	NSPROBE_REQUIRE_CONTROLPLANE=$${NSPROBE_REQUIRE_CONTROLPLANE:-} $(PY) -m pytest -q

## test-fast: parsers and pure units only
test-fast: venv
	$(PY) -m pytest -q -m "not kernel and not controlplane and not slow"

lint: venv
	$(VENV)/bin/ruff check operator plugin tests bench
	$(VENV)/bin/ruff format --check operator plugin tests bench
	MYPYPATH=operator:plugin $(VENV)/bin/mypy
	cd $(CURDIR) && $(VENV)/bin/lint-imports

## testbed: build etcd, kube-apiserver, controller-manager, scheduler, kubectl and helm (cached)
testbed:
	bash hack/build-testbed.sh

## cluster-up: start etcd, kube-apiserver, controller-manager and scheduler on random loopback ports;
## prints the exports to use (`eval "$(make -s cluster-up)"`). A second cluster-up reuses the running bed.
cluster-up: venv testbed
	@$(PY) -m nsprobe.testing.controlplane up

cluster-down: venv
	@$(PY) -m nsprobe.testing.controlplane down

cluster-status: venv
	@$(PY) -m nsprobe.testing.controlplane status

## bench: scan benchmark vs lsns -J (root; about 330 scenario containers)
bench: venv
	$(PY) bench/scan_bench.py
	$(PY) bench/metrics_bench.py
	$(PY) bench/api_bench.py

## image: build the nsprobe image with podman, no registry (debootstrap base cached in /var/cache/nsprobe)
image:
	bash hack/build-image.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
