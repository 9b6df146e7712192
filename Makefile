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
# With DEBUG on and no EMAIL_URL, mail (password-reset links too) is printed in this terminal.
RUN_ENV := DEBUG=$${DEBUG:-true}
# Size of the demo data set `make run` loads into an empty database.
DEMO_USERS ?= 50
DEMO_POSTS ?= 500

.PHONY: help run migrate test lint format clean serve bench bench-reliability test-postgres test-mysql bench-dbcopy bench-backup bench-api db-driver bench-pool

help:
	@echo "make run    - set up .venv, migrate, create the admin login, load demo data (DEMO_USERS, DEMO_POSTS), serve on http://$(HOST):$(PORT)"
	@echo "make test   - lint and run the test suite (SQLite in memory; DATABASE_URL selects another engine)"
	@echo "make serve  - production server: gunicorn + WhiteNoise, DEBUG off (needs SECRET_KEY and ALLOWED_HOSTS; docs/deployment.md)"
	@echo "             run, serve, test and migrate first install the driver DATABASE_URL's engine needs: psycopg for"
	@echo "             postgres://, mysqlclient for mysql:// (needs apt-get install -y libmariadb-dev pkg-config gcc python3-dev)"
	@echo "             DATABASE_POOL=true turns on PostgreSQL's connection pool (DATABASE_POOL_MIN_SIZE, _MAX_SIZE, _TIMEOUT)"
	@echo "make migrate - apply migrations (backing the database up first when it holds data)"
	@echo "make test-postgres / make test-mysql - the same suite on PostgreSQL / MariaDB (POSTGRES_URL, MYSQL_URL)"
	@echo "make lint   - ruff check and format check, mypy (django-stubs, djangorestframework-stubs; pyproject.toml)"
	@echo "make format - ruff format and autofix"
	@echo "make clean  - remove .venv and the caches"
	@echo "make bench  - every benchmark (make bench-api, -admin, -search, -plans, -backup, -dbcopy, -pool, -pages, -reliability, -throttle, -replica)"
	@echo "make bench-plans - the query shapes the engine switches choose between, both sides timed at 1k and 1M posts"
	@echo "make bench-backup - dbbackup/dbrestore on a 2 GB SQLite file (built once in the temp folder)"
	@echo "make bench-replica - Litestream: write throughput with/without, drill RPO, 1 GB restore replica vs backup"
	@echo "make bench-admin - time the admin pages at 1,000 and 1,000,000 posts (docs/benchmarks.md)"
	@echo "             bench-admin, -search, -plans and -api run on DATABASE_URL's engine when it names PostgreSQL"
	@echo "             or MariaDB: 1,000 and 1,000,000 posts, copied once from the SQLite sets (tools/bench/datasets.py)"
	@echo "make bench-pool  - PostgreSQL under make serve's workers: CONN_MAX_AGE against DATABASE_POOL (BENCH_POSTGRES_URL)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamp files: reinstall only when a requirements file changes.
$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

# The driver the engine in DATABASE_URL (the environment's, else .env's) needs:
# requirements-postgres.txt or requirements-mysql.txt, nothing for SQLite.
# project/dbconnect.py reads the URL as the settings do and names the file.
db-driver: $(VENV)/.runtime-installed
	@driver=$$($(PY) -m project.dbconnect) || exit 1; \
	if [ -n "$$driver" ]; then $(MAKE) -s --no-print-directory $(VENV)/.$$driver-installed; fi

run: $(VENV)/.runtime-installed db-driver
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py ensure_admin --url http://$(HOST):$(PORT)/admin/
	$(RUN_ENV) $(PY) manage.py seed_demo --if-empty --users $(DEMO_USERS) --posts $(DEMO_POSTS)
	$(RUN_ENV) $(PY) manage.py runserver $(HOST):$(PORT)

migrate: $(VENV)/.runtime-installed db-driver
	$(RUN_ENV) $(PY) manage.py migrate --noinput

# mypy's Django plugin reads the settings, which need DEBUG on without a SECRET_KEY.
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/mypy

# The suite runs on PYTEST_WORKERS parallel processes (pytest-xdist), each with
# its own test database; PYTEST_WORKERS=0 runs it in one process, as plain
# `pytest` does. Two workers halve the time on two cores and more do not help:
# many tests wait on servers and subprocesses of their own.
PYTEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS)

test: lint db-driver
	$(PYTEST)

format: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache staticfiles

# Every benchmark, one after the other (see docs/benchmarks.md).
bench: bench-api bench-admin bench-search bench-plans bench-backup bench-dbcopy bench-pool bench-pages bench-reliability bench-throttle bench-replica


# --- Production server ---------------------------------------------------------
# DEBUG is forced off whatever .env says; SECRET_KEY and ALLOWED_HOSTS come from
# the environment or .env. Worker model: gunicorn.conf.py (WEB_CONCURRENCY, WEB_THREADS).
# With REPLICA_URL set, gunicorn runs under `litestream replicate -exec` (dbtools/replication.py,
# docs/replication.md); unset, the launcher simply execs gunicorn.
SERVE_ENV := DEBUG=false HOST=$(HOST) PORT=$(PORT)

serve: $(VENV)/.runtime-installed db-driver
	@$(SERVE_ENV) $(PY) -m project.preflight
	$(SERVE_ENV) $(PY) manage.py check --deploy
	$(SERVE_ENV) $(PY) manage.py migrate --noinput
	$(SERVE_ENV) $(PY) manage.py collectstatic --noinput -v0
	$(SERVE_ENV) exec $(PY) -m dbtools.replication serve -- $(BIN)/gunicorn -c gunicorn.conf.py project.wsgi

# Load, crash and race scripts, long form (about 3 minutes; figures in docs/reliability.md).
# Each starts its own gunicorn on a free port with a SQLite file in a temporary folder.
bench-reliability: $(VENV)/.runtime-installed
	flock /tmp/project-bench.lock $(PY) -m tools.reliability.load --writers 32 --readers 8 --duration 30
	flock /tmp/project-bench.lock $(PY) -m tools.reliability.crash --cycles 20 --writers 8
	flock /tmp/project-bench.lock $(PY) -m tools.reliability.race --clients 50
# Replication (Litestream): API write throughput at 32 connections with and without it,
# the loss window of the disaster drill, restore of a ~1 GB database from the replica
# and from dbbackup (built once in the temp folder). BENCH_ARGS e.g. "--size-mb 256".
.PHONY: bench-replica
bench-replica: $(VENV)/.runtime-installed
	flock /tmp/project-bench.lock $(PY) -m tools.bench.replica $(BENCH_ARGS)
# Throttle counter stores: cost per request and increments lost across two processes.
.PHONY: bench-throttle
bench-throttle: $(VENV)/.runtime-installed
	flock /tmp/project-bench.lock $(PY) -m tools.bench.throttle_store

# Public pages, timed in-process on the demo data set (see docs/benchmarks.md).
.PHONY: bench-pages
bench-pages: $(VENV)/.runtime-installed
	$(PY) -m tools.bench.pages

# --- The suite on PostgreSQL and MariaDB/MySQL --------------------------------
# Same tests, another engine: DATABASE_URL names a database on the server and
# pytest creates and drops test_<name> next to it. The drivers come from their
# own requirements files; mysqlclient compiles against the MariaDB client
# headers (Debian: apt-get install -y libmariadb-dev pkg-config gcc python3-dev).
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/project
MYSQL_URL ?= mysql://root@127.0.0.1:3306/project
MARIADB_HEADERS := libmariadb-dev pkg-config gcc python3-dev

$(VENV)/.postgres-installed: requirements.txt requirements-postgres.txt | $(VENV)/.runtime-installed
	@echo "installing psycopg (requirements-postgres.txt)"
	$(PIP) install -r requirements-postgres.txt
	touch $@

# pip's compiler output goes to a log; what to do about it is one line.
$(VENV)/.mysql-installed: requirements.txt requirements-mysql.txt | $(VENV)/.runtime-installed
	@echo "installing mysqlclient (requirements-mysql.txt)"
	@$(PIP) install -r requirements-mysql.txt >$(VENV)/mysqlclient-install.log 2>&1 || { echo "mysqlclient (the MariaDB/MySQL driver) did not install: it compiles against the MariaDB client headers; install them first (Debian/Ubuntu: apt-get install -y $(MARIADB_HEADERS)); pip's output is in $(VENV)/mysqlclient-install.log" >&2; exit 1; }
	@rm -f $(VENV)/mysqlclient-install.log
	touch $@

test-postgres: $(VENV)/.dev-installed $(VENV)/.postgres-installed
	DATABASE_URL=$(POSTGRES_URL) $(PYTEST)

test-mysql: $(VENV)/.dev-installed $(VENV)/.mysql-installed
	DATABASE_URL=$(MYSQL_URL) $(PYTEST)

# --- Benchmark: dbcopy vs pgloader vs dumpdata | loaddata (SQLite -> PostgreSQL)
# 100,000 demo posts; prints time and peak memory of each, and dbcopy's time by
# phase. pgloader is measured when it is installed (Debian: apt-get install -y
# pgloader), skipped with a note otherwise. BENCH_POSTGRES_URL names the scratch
# target database (dropped and created again); BENCH_ARGS e.g. "--rounds 3 --no-loaddata".
bench-dbcopy: $(VENV)/.dev-installed $(VENV)/.postgres-installed
	flock /tmp/project-bench.lock $(PY) -m tools.bench.dbcopy $(BENCH_ARGS)

# Search at 1,000 vs 1,000,000 posts (tools/bench/search.py; builds its SQLite data
# sets once in the temp folder; with DATABASE_URL on PostgreSQL or MariaDB, copies
# them once into a database per size there). Serialised with the other benchmarks.
.PHONY: bench-search
bench-search: $(VENV)/.runtime-installed db-driver
	flock /tmp/project-bench.lock $(PY) -m tools.bench.search $(BENCH_ARGS)

# The query shapes the engine switches choose between (dbtools/engines.py),
# each timed on both sides at 1,000 and 1,000,000 posts on DATABASE_URL's engine
# (the scale data sets), and the searches among filtered rows.
.PHONY: bench-plans
bench-plans: $(VENV)/.runtime-installed db-driver
	flock /tmp/project-bench.lock $(PY) -m tools.bench.plans $(BENCH_ARGS)

# Backups on a ~2 GB SQLite file (built once in the temp folder): dbbackup vs
# sqlite3 .backup, peak memory, writers during a backup. Serialised with the
# other benchmarks by the lock file.
bench-backup: $(VENV)/.runtime-installed
	flock /tmp/project-bench.lock $(PY) -m tools.bench.backup

# REST API under load beside the peer apps (needs wrk and ../shared/bench/compare.py).
# With DATABASE_URL on PostgreSQL or MariaDB (or BENCH_ARGS=--scale): this project
# alone at 1,000 and 1,000,000 posts on that engine. flock keeps benchmarks from
# overlapping on a shared machine.
BENCH_COMPARE ?= ../shared/bench/compare.py
bench-api: $(VENV)/.dev-installed db-driver
	@test -f $(BENCH_COMPARE) || { echo "bench-api: $(BENCH_COMPARE) is missing (set BENCH_COMPARE=path/to/compare.py)"; exit 1; }
	flock /tmp/project-bench.lock $(PY) -m tools.bench.api --compare $(BENCH_COMPARE) $(BENCH_ARGS)

# Admin pages at 1,000 and 1,000,000 posts (SQLite files built once in the
# temp folder; the first run seeds a million posts, a few minutes). Writes
# its table into docs/benchmarks.md. With DATABASE_URL on PostgreSQL or MariaDB:
# databases copied once from the search benchmark's SQLite sets, nothing written.
# Serialised with other benchmarks.
.PHONY: bench-admin
bench-admin: $(VENV)/.runtime-installed db-driver
	flock /tmp/project-bench.lock $(PY) -m tools.bench.admin --write docs/benchmarks.md $(BENCH_ARGS)

# PostgreSQL's connection handling under make serve's worker model (real
# gunicorn with gunicorn.conf.py, wrk): persistent connections (CONN_MAX_AGE),
# a new connection per request, and Django's pool (DATABASE_POOL). Prints
# req/s and errors. BENCH_POSTGRES_URL names a scratch database (dropped and
# created again); BENCH_ARGS e.g. "--seconds 10 --threads 1,4".
bench-pool: $(VENV)/.runtime-installed $(VENV)/.postgres-installed
	flock /tmp/project-bench.lock $(PY) -m tools.bench.pool $(BENCH_ARGS)
