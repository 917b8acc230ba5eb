# Flagstream. `make run` and `make test` need only python3, make and git.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed
VAR_DIR ?= $(or $(FLAGSTREAM_VAR_DIR),var)

.PHONY: run test setup migrate demo screenshots bench bench-evaluation bench-fanout bench-publish bench-scheduled bench-ingest bench-tasks bench-company bench-analytics bench-slow fuzz soak audit clean

$(STAMP): requirements.txt sdk/python/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing dependencies into $(VENV) ..."
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

setup: $(STAMP)

migrate: setup
	@$(PY) manage.py migrate --noinput --verbosity 0
	@echo "Database migrated."

demo: migrate
	@$(PY) manage.py bootstrap_demo

## run: set everything up, then start the ASGI server and a Celery worker with beat (Ctrl-C stops all)
run: demo
	@$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo
	@echo "Flagstream is starting on http://$(HOST):$(PORT)/"
	@echo "  admin:     http://$(HOST):$(PORT)/admin/   (staff login above)"
	@echo "  API docs:  http://$(HOST):$(PORT)/api/docs/"
	@echo "Press Ctrl-C to stop the server, the worker and beat."
	@$(PY) config/launcher.py --host $(HOST) --port $(PORT) --var-dir $(VAR_DIR)

## test: the whole suite (SQLite by default; DATABASE_URL / REDIS_URL switch backends)
test: setup
	@$(PY) -m pytest -c tests/pytest.ini --rootdir=. $(PYTEST_ARGS)

## screenshots: the admin pictures in docs/screenshots/ (headless Chromium: apt-get install chromium)
screenshots: setup
	@$(PY) docs/screenshots/take.py

## bench-evaluation: evaluation speed against flagsmith-flag-engine, UnleashClient and growthbook
bench-evaluation: setup
	@$(PY) -m pip install --quiet -r bench/requirements.txt
	@$(PY) bench/evaluation/run.py

## bench-fanout: SSE fan-out at 1,000/5,000/10,000 streams vs a minimal django-eventstream view, and 5,000/15,000 through Pushpin
bench-fanout: setup
	@$(PY) bench/fanout/run.py

## bench-publish: replay storage append cost, with and without trim-on-append
bench-publish: setup
	@$(PY) bench/publish/run.py

## bench-scheduled: 1,000 scheduled changes due in one second, two workers
bench-scheduled: setup
	@$(PY) bench/scheduled/run.py

## bench-ingest: agent-session ingest events/s (8 CLI clients) and a 10,000-message upload
bench-ingest: setup
	@$(PY) bench/ingest/run.py

## bench-tasks: 1,000 task streams x 20 messages/s for 30 s on one server process, beside the flag SSE path
bench-tasks: setup
	@$(PY) bench/tasks/run.py

## bench-company: 1,000 company streams fed from NATS at 1,000/500/250 events/s, then the bridge's top speed (needs nats-server, redis-server)
bench-company: setup
	@$(PY) bench/company/run.py

## bench-analytics: POST /api/sdk/events batched (1,000, 100) and single, three ways to store a batch, rollups over 3 million raw rows (DATABASE_URL: PostgreSQL)
bench-analytics: setup
	@$(PY) bench/analytics/run.py

## bench-slow: latency of 20 readers with and without 50 clients that stop reading, same run
bench-slow: setup
	@$(PY) bench/slow_consumers/run.py

bench: bench-evaluation bench-fanout bench-publish bench-scheduled bench-ingest bench-tasks bench-company bench-analytics bench-slow

## fuzz: the schema fuzz against a live server, 100 examples per operation and phase (CI runs 5)
fuzz: setup
	@$(PY) -m tests.fuzz.run --examples $(or $(EXAMPLES),100)

## soak: 30 minutes (MINUTES=…) of mixed load; memory, files and DB connections of every process, start vs end
soak: setup
	@$(PY) bench/soak/run.py --minutes $(or $(MINUTES),30)

## audit: pip-audit of requirements.txt, in a virtualenv of its own (needs PyPI's JSON API)
audit:
	@test -x var/audit/bin/pip-audit || ($(PYTHON) -m venv var/audit && var/audit/bin/pip install --quiet pip-audit)
	@var/audit/bin/pip-audit -r requirements.txt --no-deps --disable-pip --progress-spinner off

clean:
	rm -rf $(VENV) var .pytest_cache
