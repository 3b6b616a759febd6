# adaptres: the two commands of the README, and what they need.
#   make study [PROFILE=cpu|fast|paper] [RETRAIN=1] [REPLAY=1] [PUBLISH=1]
#                                          set up (.venv, data) and run the whole study into runs/<profile>/
#   make test                              set up and run the tests (ruff, mypy, pytest + nbval over notebooks/)
#   make check                             the inner loop: ruff, mypy and the tests not marked slow
#   make timings                           time make test from a fresh clone into data/results/timings.csv
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PROFILE ?= cpu
PY := $(VENV)/bin/python
DEPS_HASH := $(shell sha256sum pyproject.toml | cut -c1-16)
STAMP := $(VENV)/.adaptres-deps-$(DEPS_HASH)
SITE = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

.PHONY: venv data testbed-tools lint check test study bench notebooks clean-runs timings

$(STAMP):  # keyed on the content of pyproject.toml (DEPS_HASH), not its date
	@test -n "$(PYTHON)" && $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup: Python 3.11 or newer not found (set PYTHON=...)"; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + [d for e in p["optional-dependencies"].values() for d in e if not d.startswith("adaptres")]))' > $(VENV)/requirements.txt
	@# uv (from PyPI, into the venv) installs the same pinned versions as pip, from its cache in seconds rather than minutes; pip if uv cannot be had.
	@# Compiled to bytecode as pip does (uv does not by default): where PYTHONDONTWRITEBYTECODE is set no process would
	@# write it, and every one (a command, a kernel, each Ray worker) would compile torch, Ray and pandas anew as it starts
	@$(PY) -m pip install -q --disable-pip-version-check uv 2>&1 | grep -v "^WARNING: Location" || true
	@if [ -x $(VENV)/bin/uv ]; then echo "setup: installing the dependencies with uv into $(VENV)"; \
	  $(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -r $(VENV)/requirements.txt; \
	else echo "setup: installing the dependencies with pip into $(VENV) (uv not found)"; \
	  $(PY) -m pip install -q --disable-pip-version-check -r $(VENV)/requirements.txt 2>&1 | grep -v "^WARNING: Location" || true; fi
	@# found, not imported: importing them all is seconds of every fresh set-up, and the first test imports them anyway
	@$(PY) -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in ("torch", "torchvision", "pyomo", "highspy", "pymoo", "papermill", "nbval", "ray")))' || { echo "setup: the install into $(VENV) failed"; exit 2; }
	@rm -f $(VENV)/.adaptres-deps-*; touch $@

# the environment: every dependency (the package's and all its extras) once per pyproject.toml, and this checkout on the path
venv: $(STAMP)
	@echo "$(CURDIR)" > $(SITE)/adaptres-checkout.pth

# Fashion-MNIST from Debian's package when it is missing and apt is there (CIFAR-10: see README)
data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && [ ! -e data/raw/FashionMNIST/raw/t10k-labels-idx1-ubyte ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "setup: installing Debian's dataset-fashion-mnist"; \
	    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null || echo "setup: apt-get could not install dataset-fashion-mnist"; \
	  else echo "setup: Fashion-MNIST is missing; install dataset-fashion-mnist or put its files in data/raw/FashionMNIST/raw"; fi; \
	fi

# the network test bed's tools (ip, tc) from Debian's iproute2 when missing and apt is there, as root
# (without them, or without root, the live system runs on one host and says so)
testbed-tools:
	@if ! command -v ip >/dev/null || ! command -v tc >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "setup: installing Debian's iproute2 (the network test bed)"; \
	    (apt-get update -qq && apt-get install -y -qq iproute2) >/dev/null || echo "setup: apt-get could not install iproute2"; \
	  else echo "setup: iproute2 is missing: the live system will run on one host"; fi; \
	fi

# the linters the project's code is held to (configured in pyproject.toml)
lint: venv
	$(PY) -m ruff check adaptres tests
	$(PY) -m mypy

check: lint data
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not slow" tests -p no:cacheprovider -p no:nbval

test: lint data testbed-tools
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=30 tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

study: venv data testbed-tools
	$(PY) -m adaptres study --profile $(PROFILE) $(if $(RETRAIN),--retrain) $(if $(REPLAY),--replay) $(if $(PUBLISH),--publish)

bench: venv
	$(PY) -m adaptres bench

# re-execute the committed notebooks in the fast profile (their stored outputs are what nbval checks)
notebooks: venv data
	$(PY) -m adaptres study --profile fast --in-place

# how long `make test` takes here from a fresh clone, set-up included: data/results/timings.csv (the README's table)
timings:
	$(PY) -m adaptres.report.timings test
