# Heima — the two commands a newcomer needs: `make demo` and `make test`.
# Both set everything up themselves on a fresh Debian 12 / Raspberry Pi OS machine.
VENV := .venv
PY := $(VENV)/bin/python
SETUP_INPUTS := pyproject.toml scripts/setup.sh tests/servers/fhir/package.json tests/servers/fhir/package-lock.json

.PHONY: setup demo test bench bench-long deb clean

setup: .stamp-setup

.stamp-setup: $(SETUP_INPUTS)
	scripts/setup.sh
	@touch $@

demo: setup
	$(VENV)/bin/heima demo $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -q

# The Raspberry Pi package: `make deb` for this machine, `make deb DEB_ARCH=arm64` for a Pi.
DEB_ARCH ?= $(shell dpkg --print-architecture)
deb: setup
	packaging/build-deb.sh --arch $(DEB_ARCH) $(DEB_ARGS)

bench: setup
	$(PY) -m pytest tests/bench -q -s -m bench

# the benchmarks with a backlog of 1,000,000 queued Observations too (tests/bench/test_bench_backlog.py)
bench-long: setup
	HEIMA_BENCH_LONG=1 $(PY) -m pytest tests/bench -q -s -m bench

clean:
	rm -rf $(VENV) .stamp-setup tests/servers/fhir/node_modules build .pytest_cache .hypothesis
