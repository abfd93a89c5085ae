# Hourglass: `make run` to try it, `make test` for the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
WORKER_CONCURRENCY ?= 2
export HOURGLASS_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test lint fmt worker beat web migrate demo install install-dev bench chaos clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seeddemo --base-url $(HOURGLASS_BASE_URL)

CELERY := $(VENV)/bin/celery -A config
# Beat inside a one-process worker for the clock queue (dispatch, reap), so ticks are never
# stuck behind executor batches waiting on slow targets.
CLOCK_CMD := $(CELERY) worker -B -Q clock --concurrency=1 --hostname=clock@%h --loglevel=INFO
WORKER_CMD := $(CELERY) worker -Q celery --concurrency=$(WORKER_CONCURRENCY) --hostname=worker@%h --loglevel=INFO
WEB_CMD := $(VENV)/bin/gunicorn config.wsgi --bind $(HOST):$(PORT) --workers 2 --threads 8 --access-logfile -

# Web server, beat (with the clock worker) and one executor worker; one Ctrl-C stops them all.
# Each runs in a session of its own and the stop signal goes to the three main processes only,
# which stop their own children. A signal to the whole group (a terminal's, a supervisor's) used to
# reach celery's pool processes directly, and the worker could then hang in its shutdown for good.
run: demo
	@echo "Hourglass on http://$(HOST):$(PORT)/  (Ctrl-C stops the web server and the workers)"
	@trap 'kill $$pids 2>/dev/null; wait' INT TERM; \
	setsid $(CLOCK_CMD) & pids=$$!; \
	setsid $(WORKER_CMD) & pids="$$pids $$!"; \
	setsid $(WEB_CMD) & pids="$$pids $$!"; \
	wait

web: migrate
	$(WEB_CMD)

# Executor worker: run as many as you need, each with its own --hostname.
worker: migrate
	$(WORKER_CMD)

# Beat plus the clock queue's consumer; run one (several are safe, just redundant).
beat: migrate
	$(CLOCK_CMD)

# In parallel (pytest-xdist): the tests that run real workers, browsers or benchmarks all go to one
# process in turn (tests/conftest.py), the in-process tests to every process. TEST_WORKERS=0: serial.
TEST_WORKERS ?= auto
test: install-dev
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider -p no:xdist tests/test_import_rules.py
	$(PY) manage.py makemigrations --check --dry-run

fmt: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev
	$(PY) -m bench $(BENCH_ARGS)

# A bounded soak under faults with its own PostgreSQL and broker under var/chaos/, then the
# invariant checker; non-zero exit when an invariant is broken. CHAOS_MINUTES (10), CHAOS_SEED,
# CHAOS_BROKER=redis|rabbitmq. See bench/chaos/soak.py and docs/reliability.md.
chaos: install-dev
	$(PY) -m bench.chaos

clean:
	rm -rf var .pytest_cache .ruff_cache
