# Two entry points (README's Quick start): `make run` and `make test`. Both set up what they
# need first and are safe to run again. Other targets are for maintainers.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEV := .dev
# Debian 12 / Raspberry Pi OS bookworm packages: building pyscard (swig, PC/SC headers, a C
# compiler, Python headers); pcscd with the vpcd driver (the tests serve a virtual card to a
# real pcscd); NUT's upsd and dummy-ups driver (the tests run a real upsd); FUSE (the
# power-cut tests put the data directory on a disk that drops unsynced writes); Kivy's GL and
# input libraries, and a virtual X server so the touchscreen runs and is tested headless;
# espeak-ng for the spoken prompts (its Indonesian voice is in espeak-ng-data); libsystemd-dev
# and pkg-config to build systemd's Python bindings (sd_notify: READY and the watchdog);
# systemd for systemd-analyze (the tests verify the units); PostgreSQL (the tests and
# benchmarks start their own server for `kiosk-intake serve --db`); shellcheck (the tests
# lint scripts/install-pi.sh) and libduktape207, polkitd's JavaScript engine (the tests
# evaluate the installer's polkit rule in it); dosfstools, fusefat, exfatprogs and exfat-fuse
# (the tests make FAT32 and exFAT stick images and mount them through FUSE).
APT_PACKAGES := python3-venv python3-dev build-essential swig libpcsclite-dev pcscd \
                vsmartcard-vpcd nut-server nut-client fuse3 libgl1 libegl1 libmtdev1 xvfb xauth \
                espeak-ng libsystemd-dev pkg-config systemd postgresql shellcheck libduktape207 \
                dosfstools fusefat exfatprogs exfat-fuse

.PHONY: help setup apt venv run test test-long bench screenshots lint clean

help:
	@echo "make run        set up, then start the kiosk on simulated hardware"
	@echo "make test       set up, then run the tests"
	@echo "make test-long  the long robustness runs (many kills)"
	@echo "make bench      the benchmarks (results table in README)"
	@echo "make screenshots every screen, both languages, both panels -> docs/screenshots/"
	@echo "make lint       ruff and the import layers (lint-imports)"

setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing system packages: $$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "These system packages are needed. Run this, then run make again:"; \
	  echo "  sudo apt-get install -y $$missing"; \
	  exit 1; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# The development kiosk (sim hardware, data under .dev/) with a local intake server and the
# uploader: scripts/dev-run.sh. KIOSK_CONFIG in the environment wins.
run: setup
	exec scripts/dev-run.sh

# pytest workers (pytest-xdist), one test file each at a time: the timing-sensitive files
# (kills, power cuts, the bad link) keep their own order. One worker more than the cores:
# the tests spend about a third of their time waiting on the processes, sockets and screens
# they drive (2 cores: 9.5 min with 2 workers, 7.2 min with 3, the same CPU time).
# PYTEST_PARALLEL= runs serially.
TEST_WORKERS ?= $(shell python3 -c 'import os; print(len(os.sched_getaffinity(0)) + 1)')
PYTEST_PARALLEL ?= -n $(TEST_WORKERS) --dist loadfile

test: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -m "not slow" -q $(PYTEST_PARALLEL)

test-long: setup
	$(BIN)/python -m pytest -m slow -q

bench: setup
	$(BIN)/python benchmarks/run.py

# Every screen in both languages on the 7-inch 800x480 panel and a 10-inch 1280x800 one,
# rendered by the real app on a virtual display.
screenshots: setup
	xvfb-run -a -s "-screen 0 1280x800x24" $(BIN)/python scripts/screenshots.py docs/screenshots --size 800x480 --panel-mm 155x86
	xvfb-run -a -s "-screen 0 1280x800x24" $(BIN)/python scripts/screenshots.py docs/screenshots --size 1280x800 --panel-mm 217x136

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DEV) .pytest_cache .ruff_cache .hypothesis
