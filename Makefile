# The README's two commands: `make run` and `make test`. Everything else is
# for people working on the project. Needs only Python 3.10+ on the PATH.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PIP := $(PY) -m pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8000
# Development server settings for `make run` (the environment or .env may override them).
RUN_ENV := DEBUG=$${DEBUG:-true}

.PHONY: help run migrate test lint format clean serve bench-reliability

help:
	@echo "make run    - set up .venv, migrate, create the admin login, load demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test   - lint and run the test suite (SQLite in memory; DATABASE_URL selects another engine)"
	@echo "make serve  - production server: gunicorn + WhiteNoise, DEBUG off (needs SECRET_KEY and ALLOWED_HOSTS)"
	@echo "make lint   - ruff check and format check"
	@echo "make format - ruff format and autofix"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamp files: reinstall only when a requirements file changes.
$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

run: $(VENV)/.runtime-installed
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py ensure_admin --url http://$(HOST):$(PORT)/admin/
	$(RUN_ENV) $(PY) manage.py seed_demo --if-empty --users 50 --posts 500
	$(RUN_ENV) $(PY) manage.py runserver $(HOST):$(PORT)

migrate: $(VENV)/.runtime-installed
	$(RUN_ENV) $(PY) manage.py migrate --noinput

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(PY) -m pytest

format: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles

# --- Production server ---------------------------------------------------------
# DEBUG is forced off whatever .env says; SECRET_KEY and ALLOWED_HOSTS come from
# the environment or .env. Worker model: gunicorn.conf.py (WEB_CONCURRENCY, WEB_THREADS).
SERVE_ENV := DEBUG=false HOST=$(HOST) PORT=$(PORT)

serve: $(VENV)/.runtime-installed
	@$(SERVE_ENV) $(PY) -m project.preflight
	$(SERVE_ENV) $(PY) manage.py check --deploy
	$(SERVE_ENV) $(PY) manage.py migrate --noinput
	$(SERVE_ENV) $(PY) manage.py collectstatic --noinput -v0
	$(SERVE_ENV) exec $(BIN)/gunicorn -c gunicorn.conf.py project.wsgi

# Load, crash and race scripts, long form (about 3 minutes; figures in docs/reliability.md).
# Each starts its own gunicorn on a free port with a SQLite file in a temporary folder.
bench-reliability: $(VENV)/.runtime-installed
	flock /tmp/project-bench.lock $(PY) -m scripts.reliability.load --writers 32 --readers 8 --duration 30
	flock /tmp/project-bench.lock $(PY) -m scripts.reliability.crash --cycles 20 --writers 8
	flock /tmp/project-bench.lock $(PY) -m scripts.reliability.race --clients 50
