# NanoMark's two commands: `make run` (install, demo data, web + worker) and `make test`.
# Everything else here is a step of those two; see README.md.

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIND ?= 127.0.0.1:8000
DEMO_IMAGES ?= 12
REQ_HASH := $(shell cat requirements*.txt | sha256sum | cut -c1-16)

# Debian programs the platform runs, as command:package. tesseract reads scale bars of
# uploads without a pixel size; the tests also run xtb (GFN2-xTB), Chromium (browser tests)
# and docker-compose (validates docker/docker-compose.yml without a container engine).
RUN_PROGRAMS := tesseract:tesseract-ocr
TEST_PROGRAMS := $(RUN_PROGRAMS) xtb:xtb chromium:chromium docker-compose:docker-compose

.PHONY: run test install install-dev run-packages system-packages migrate demo serve lint format bench clean

run: install run-packages migrate demo serve  ## install, load demo data, start web server and worker

test: install-dev system-packages  ## lint and run the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

$(VENV)/.installed-run-$(REQ_HASH):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev-$(REQ_HASH): $(VENV)/.installed-run-$(REQ_HASH)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed-run-$(REQ_HASH)
install-dev: $(VENV)/.installed-dev-$(REQ_HASH)

# $(1): command:package pairs; installs the packages of missing commands (as root), else says how.
define apt_programs
	missing=""
	for pair in $(1); do command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done
	if [ -n "$$missing" ]; then
		if [ "$$(id -u)" = 0 ]; then
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing
		else
			echo "Missing:$$missing. Run 'sudo apt-get install$$missing' (what needs them is skipped until then)"
		fi
	fi
endef

run-packages:  ## programs the platform runs: tesseract (scale-bar reading)
	$(call apt_programs,$(RUN_PROGRAMS))

system-packages:  ## programs the tests run for real: tesseract, xtb (GFN2-xTB), Chromium, docker-compose
	$(call apt_programs,$(TEST_PROGRAMS))

migrate: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0

demo: install migrate  ## synthetic SEM images, analysed, in a demo lab; prints the login
	$(PY) manage.py load_demo --images $(DEMO_IMAGES)

serve: install  ## gunicorn on $(BIND) and a django-q2 worker, stopped together by Ctrl-C
	trap 'kill 0' EXIT
	$(PY) manage.py run_workers &
	echo "NanoMark is at http://$(BIND)/ (Ctrl-C stops it)"
	# No control socket: gunicorn's default path is shared by every instance of a user on the host.
	$(VENV)/bin/gunicorn --pythonpath platform nanomark.wsgi --bind $(BIND) --workers 2 --timeout 120 --no-control-socket

lint: install-dev
	$(VENV)/bin/ruff check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev  ## benchmarks: each prints a ratio against a baseline measured in the same run
	for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script; done

clean:  ## remove the virtualenv and all local data (database, media, demo images)
	rm -rf $(VENV) var
