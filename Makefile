# eksguard - the front door. `make demo` and `make test` are the quick start.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
# Lambda runs python3.12: develop, test and build with the same interpreter.
PYTHON312 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.12*/bin/python3.12) $(shell command -v python3.12))
VENV := .venv
SAMVENV := .venv-sam
BIN := $(VENV)/bin
SAM_CLI_VERSION := 1.170.0
export SAM_CLI_TELEMETRY := 0
# Tests and the demo never reach AWS: fake credentials, a fixed region.
TEST_ENV := AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing \
	AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1

# sam local invoke: the functions on this machine's architecture, Powertools from the local image.
SAM_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
SAM_LOCAL_BUILD := .aws-sam/local
WITH_DOCKER := bash tests/sam_local/docker-engine.sh --

.PHONY: help setup demo test test-timeshift fuzz bench detect lint build sam sam-image sam-local sam-local-checks clean

help:
	@echo "make setup   create .venv with the eksguard command (demo and test depend on it)"
	@echo "make demo    run the security-group story on the embedded AWS stand-in (moto server)"
	@echo "make test    unit, functional and end-to-end tests (no Docker, no AWS account)"
	@echo "make test-timeshift  functional and e2e tests with the clock moved SHIFT (default +400d) by faketime"
	@echo "make fuzz    10,000 adversarial events through every guard (make test runs a sample)"
	@echo "make bench   eksguard vs Cloud Custodian on the stand-in (results: docs/benchmarks.md)"
	@echo "make detect  detection quality: eksguard scan vs Prowler on a labelled corpus (results: docs/detection.md)"
	@echo "make lint    ruff, mypy, sam validate --lint"
	@echo "make build   sam build (python3.12 first on PATH)"
	@echo "make sam-local  sam local invoke in Docker against the stand-in, each effect checked (root: starts dockerd)"
	@echo "make sam-image  the offline python3.12 image sam local invoke runs in (make sam-local builds it)"

setup: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON312)" || { echo "python3.12 not found (pyenv install 3.12 or set PYTHON312=...)"; exit 1; }
	$(PYTHON312) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	@touch $@

$(SAMVENV)/.installed: | setup
	$(BIN)/uv venv --quiet --python $(PYTHON312) $(SAMVENV)
	$(BIN)/uv pip install --quiet --python $(SAMVENV)/bin/python aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $@

sam: $(SAMVENV)/.installed

demo: setup
	$(TEST_ENV) $(BIN)/eksguard local demo

# Workers (pytest-xdist): one more than the cores, since tests also wait (CLI subprocesses, stand-in servers,
# botocore's back-off sleeps); 2 cores: 4 min 37 s with 3 workers, 5 min 10 s with 2. Every e2e test starts its
# own stand-in on a free port.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
PYTEST := $(TEST_ENV) $(if $(wildcard $(SAMVENV)/bin/python),SAM_PYTHON=$(abspath $(SAMVENV)/bin/python)) \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal
# How far test-timeshift moves the machine's clock (faketime); nothing may depend on today's date.
SHIFT ?= +400d

test: setup
	$(PYTEST)

test-timeshift: setup
	@command -v faketime >/dev/null || { echo "faketime not found: apt-get install faketime"; exit 1; }
	# Only the wall clock moves: a shifted monotonic clock stalls timed waits (botocore's adaptive retry bucket);
	# tests/support/faketime/sitecustomize.py works around libfaketime's EINVAL for Python's sleep. -m: the
	# synchronized library (libfaketimeMT): with the plain one a threaded process segfaulted now and then.
	PYTHONPATH=$(abspath tests/support/faketime) FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -m -f $(SHIFT) \
		env $(PYTEST) tests/functional tests/e2e

fuzz: setup
	$(TEST_ENV) EKSGUARD_FUZZ_EXAMPLES=10000 $(BIN)/pytest tests/fuzz

bench: setup sam
	PATH=$(dir $(PYTHON312)):$$PATH $(BIN)/python bench/vs_custodian.py --python312 $(PYTHON312) \
		--sam $(abspath $(SAMVENV)/bin/sam) --uv $(abspath $(BIN)/uv)

# Prowler goes into bench/.venv-prowler (pinned: bench/detection/requirements-prowler.txt) on first use.
detect: setup
	$(TEST_ENV) $(BIN)/python bench/detection/run.py --python312 $(PYTHON312) --uv $(abspath $(BIN)/uv)

lint: setup sam
	$(BIN)/ruff check layers functions tests
	$(BIN)/mypy
	PATH=$(dir $(PYTHON312)):$$PATH $(SAMVENV)/bin/sam validate --lint

build: setup sam
	PATH=$(dir $(PYTHON312)):$$PATH $(SAMVENV)/bin/sam build

sam-image:
	$(WITH_DOCKER) bash tests/sam_local/image/build.sh $(PYTHON312)

sam-local: setup sam
	$(WITH_DOCKER) $(MAKE) --no-print-directory sam-local-checks

sam-local-checks:
	bash tests/sam_local/image/build.sh $(PYTHON312)
	PATH=$(dir $(PYTHON312)):$$PATH EKSGUARD_LAYER_ARCH=$(SAM_ARCH) $(SAMVENV)/bin/sam build \
		--build-dir $(SAM_LOCAL_BUILD) --cache-dir $(SAM_LOCAL_BUILD)-cache --parameter-overrides Architecture=$(SAM_ARCH) PowertoolsLayer=none
	status=0; $(BIN)/python tests/sam_local/run.py --sam $(abspath $(SAMVENV)/bin/sam) \
		--template $(SAM_LOCAL_BUILD)/template.yaml --architecture $(SAM_ARCH) || status=$$?; \
	docker image prune --force --filter label=eksguard.sam-image.inputs > /dev/null; exit $$status

clean:
	rm -rf .aws-sam $(VENV) $(SAMVENV) bench/.venv-prowler
