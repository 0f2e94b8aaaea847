# vitals: end-to-end conformance tests for Helm charts on kind.
# `make help` lists the targets. Tools land in .bin/ (first on PATH here);
# caches live in $(VITALS_CACHE) outside the checkout so clean checkouts and
# CI reuse them.

SHELL := /bin/bash
export VITALS_CACHE ?= $(HOME)/.cache/vitals
export PATH := $(CURDIR)/.bin:$(HOME)/.cargo/bin:/usr/local/go/bin:$(PATH)
CARGO ?= cargo
CHART ?=
PROFILE ?=
# K8S=1.36 picks a Kubernetes minor from scripts/kubernetes-versions.tsv (the
# default is its first row, the newest); scripts and the runner read E2E_K8S.
K8S ?=
ifneq ($(K8S),)
export E2E_K8S := $(K8S)
endif

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z][a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: setup
setup: ## build the pinned tools (helm) from their Go modules into .bin/
	@bash scripts/tools.sh helm actionlint

.PHONY: setup-cluster
setup-cluster: ## docker engine + kind + kubectl (what the cluster tier needs)
	@bash scripts/docker.sh >/dev/null
	@bash scripts/tools.sh kind kubectl

# The cluster tier is `make e2e`: it orders cells so they fit one node (dev
# together, prod one at a time), which one `cargo test` process cannot.
E2E_TIERS ?= unit,render,images
export E2E_TIERS

.PHONY: test
test: setup setup-browser ## the README's test command: every unit test, the render trials and the image smoke tests (Docker started if needed)
	bash scripts/docker.sh >/dev/null
	bash scripts/images.sh build >/dev/null
	$(CARGO) test --workspace --locked

.PHONY: nextest
nextest: setup ## the same trials under cargo-nextest (one process per trial; .config/nextest.toml), cargo-nextest built once into the cache
	@bash scripts/tools.sh nextest
	$(CARGO) nextest run --workspace --locked

.PHONY: render
render: setup ## only the render tier (E2E_TIERS=render), optionally one chart: make render CHART=medplum
	E2E_TIERS=render $(CARGO) test -p e2e --test e2e --locked -- $(if $(CHART),$(CHART)/$(if $(PROFILE),$(PROFILE)/,),)

CHARTS := medplum health-platform developer-mesh healthcare-backend open-health-exchange

.PHONY: e2e
e2e: setup cluster images-load ## the main job: cluster + images, smoke (once per cluster instance), then every tier of every chart x profile
	bash scripts/cluster-smoke.sh --once
ifneq ($(CHART),)
	E2E_TIERS=unit,render,cluster $(CARGO) test -p e2e --test e2e --locked -- $(CHART)/$(if $(PROFILE),$(PROFILE)/,)
else
	# One process for the whole matrix: cells install in parallel as far as
	# their cpu/memory requests (HPA headroom included) fit the nodes, and
	# queue for room otherwise (suites/src/capacity.rs).
	E2E_TIERS=unit,render,cluster $(CARGO) test -p e2e --test e2e --locked
endif

.PHONY: e2e-upgrade
e2e-upgrade: setup cluster images-load ## upgrade cells: previous release -> working copy (dev), dev -> prod values in place; CHART=/PROFILE= for one
ifneq ($(CHART),)
	E2E_TIERS=upgrade $(CARGO) test -p e2e --test e2e --locked -- $(CHART)/$(if $(PROFILE),$(PROFILE)/,)
else
	E2E_TIERS=upgrade $(CARGO) test -p e2e --test e2e --locked
endif

# The availability tier needs nodes to drain and spread over: its own kind
# cluster, vitals-ha-<minor> from kind-config/multi-node.yaml (1 control
# plane + 2 workers), beside the single-node vitals-<minor>. Prod cells only.
# CHART=harness runs only the tier's fixtures (harness/-/availability/).
.PHONY: e2e-availability
e2e-availability: setup ## availability tier (spread, drain vs PDB, traffic, rollout, graceful stop, recovery, restore) of the prod cells on the multi-node cluster; CHART= for one, CHART=harness for the fixtures
	@. scripts/versions.env && export VITALS_CLUSTER=vitals-ha-$${K8S_MINOR//./-} VITALS_KIND_CONFIG=$(CURDIR)/kind-config/multi-node.yaml && \
	bash scripts/cluster.sh up && bash scripts/images.sh load >/dev/null && \
	E2E_TIERS=availability $(CARGO) test -p e2e --test e2e --locked -- $(if $(filter harness,$(CHART)),harness/-/availability/,$(if $(CHART),$(CHART)/prod/,))

.PHONY: images-load
images-load: ## build the data-service and agent images (cached) and load them into the cluster
	bash scripts/images.sh load

.PHONY: cluster
cluster: ## create (or reuse) the kind cluster `vitals` from locally built images
	bash scripts/cluster.sh up

.PHONY: cluster-smoke
cluster-smoke: ## prove the cluster: nodes, DNS, local image, PVC, metrics, NetworkPolicy
	bash scripts/cluster-smoke.sh

.PHONY: cluster-down
cluster-down: ## delete the kind cluster
	bash scripts/cluster.sh down

.PHONY: images
images: ## build every image: kind node + add-ons, data services, agent (cached by content)
	bash scripts/docker.sh >/dev/null
	bash scripts/node-image.sh
	bash scripts/images.sh build

.PHONY: lint
lint: setup ## rustfmt, clippy, and helm lint --strict of every chart x profile
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	E2E_TIERS=render $(CARGO) test -p e2e --test e2e --locked -- /render/lint

.PHONY: lint-workflows
lint-workflows: setup ## actionlint on .github/workflows
	.bin/actionlint -no-color .github/workflows/*.yml

.PHONY: openapi
openapi: ## regenerate crates/checks/openapi/<version>.json for every supported Kubernetes version, from the k8s.io/kubernetes module
	bash scripts/openapi.sh

.PHONY: bench
bench: setup ## record timings and memory into bench/results.md (render tier measured now; cluster tier summarised from the last run)
	bash bench/render.sh
	python3 bench/cluster.py
	python3 bench/capacity_defaults.py

.PHONY: bench-nextest
bench-nextest: setup cluster images-load ## the whole matrix under cargo-nextest timed, then a trial process's start (warm, one and four at once); into bench/results.md
	bash bench/nextest.sh

# REPORT_DIRS: several output directories to merge (CI cells downloaded apart).
.PHONY: report
report: ## turn target/e2e/*.jsonl into target/e2e/report/index.html and junit.xml (offline)
	$(CARGO) run -q -p vitals-report --locked -- $(or $(REPORT_DIRS),target/e2e)

.PHONY: setup-browser
setup-browser: ## Debian's chromium for the report's browser test
	@bash scripts/browser.sh

.PHONY: bench-cluster
bench-cluster: setup cluster images-load ## whole matrix (make e2e) timed: phases, peak RSS; BASELINE=1 adds the ct-install-style baseline; into bench/results.md
	bash bench/matrix.sh

.PHONY: clean
clean: ## remove build output and results (keeps the shared cache)
	$(CARGO) clean
	rm -rf target/e2e
	find charts -path '*/charts/*.tgz' -delete
