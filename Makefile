# One entry point. `make demo` and `make test` do all set-up on a fresh machine
# with python3.11 on PATH: uv is bootstrapped from PyPI into .tools/, then .venv is
# synced to exactly build/requirements.lock (+ the dev lock) and greenkfp installed.

PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.greenkfp-synced
LOCKS := build/requirements.lock build/requirements-dev.lock

.PHONY: demo test lint format compile lock clean help chromium image image-check image-lock

help:
	@echo "make demo     run the whole pipeline locally on the embedded data"
	@echo "make test     lint, then the whole test suite"
	@echo "make compile  rewrite build/ YAML and components/REFERENCE.md"
	@echo "make lock     re-resolve the locks from build/requirements*.in"
	@echo "make image    build the component image IMAGE with docker or podman"
	@echo "make image-check  run every component in IMAGE as KFP does (minutes)"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) $(LOCKS) pyproject.toml
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(VENV)/bin/python $(LOCKS)
	$(UV) pip install --quiet --python $(VENV)/bin/python --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/greenkfp run --output-dir runs/demo

# Headless Chromium for the report rendering test (tests/pipeline/test_report_render.py).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "make chromium: /usr/bin/chromium is missing and apt-get is not available;" \
			"install Chromium yourself, or the report rendering test fails"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
			|| echo "make chromium: apt-get install chromium failed; the report rendering test fails"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq chromium \
			|| echo "make chromium: apt-get install chromium failed; the report rendering test fails"; \
	else \
		echo "make chromium: /usr/bin/chromium is missing and installing it needs root;" \
			"run 'sudo apt-get install chromium', or the report rendering test fails"; \
	fi

test: $(STAMP) chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

compile: $(STAMP)
	$(VENV)/bin/greenkfp compile --output-dir build
	$(VENV)/bin/greenkfp docs

lock: $(UV)
	$(UV) pip compile --quiet build/requirements.in --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o build/requirements.lock
	$(UV) pip compile --quiet build/requirements-dev.in --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o build/requirements-dev.lock
	$(MAKE) image-lock

# The component image (build/README.md). Not part of `make test`: it needs docker or podman
# and takes many minutes. PIP_CA: a CA bundle pip trusts at build time only (a build secret);
# by default the one the host's pip uses through PIP_CERT, if any.
IMAGE ?= ghcr.io/greenkfp/greenkfp:0.1.0
BASE_IMAGE ?= python:3.11-slim-bookworm
CONTAINER ?= $(shell if docker info >/dev/null 2>&1; then echo docker; \
	elif command -v podman >/dev/null 2>&1; then echo podman; else echo docker; fi)
PIP_CA ?= $(PIP_CERT)
IMAGE_BUILD_FLAGS ?=
comma := ,

image:
	$(CONTAINER) build -f build/Dockerfile -t $(IMAGE) --build-arg BASE_IMAGE=$(BASE_IMAGE) \
		$(if $(PIP_CA),--secret id=pip_ca$(comma)src=$(PIP_CA)) $(IMAGE_BUILD_FLAGS) .

image-check: $(STAMP)
	$(VENV)/bin/python build/image_check.py $(IMAGE) --engine $(CONTAINER)

image-lock: $(UV)
	$(UV) pip compile --quiet build/requirements-build.in --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o build/requirements-build.lock

clean:
	rm -rf $(VENV) .tools runs .pytest_cache .ruff_cache
