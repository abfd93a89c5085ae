# Hourglass: `make run` to try it, `make test` for the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
WORKER_CONCURRENCY ?= 2
export HOURGLASS_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test lint fmt worker beat web migrate demo install install-dev bench clean

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

# Web server + one worker with beat inside; one Ctrl-C stops both.
run: demo
	@echo "Hourglass on http://$(HOST):$(PORT)/  (Ctrl-C stops the web server and the worker)"
	@trap 'trap - INT TERM EXIT; kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A config worker -B --loglevel=INFO --concurrency=$(WORKER_CONCURRENCY) & \
	$(VENV)/bin/gunicorn config.wsgi --bind $(HOST):$(PORT) --workers 2 --threads 8 --access-logfile - & \
	wait

web: migrate
	$(VENV)/bin/gunicorn config.wsgi --bind $(HOST):$(PORT) --workers 2 --threads 8 --access-logfile -

worker: migrate
	$(VENV)/bin/celery -A config worker --loglevel=INFO --concurrency=$(WORKER_CONCURRENCY)

beat: migrate
	$(VENV)/bin/celery -A config beat --loglevel=INFO

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

fmt: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache .ruff_cache
