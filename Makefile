# Causerie: `make run` starts the service with the embedded default, `make test` runs the tests.
# Both create the virtual environment and install the pinned dependencies on first use.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && echo $$p && break; done)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install run test lint fmt schema schemathesis migrate web worker beat clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Causerie needs Python 3.11 or newer on PATH." >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

## The embedded default: SQLite, in-memory channel layer, tasks run in-process, a demo
## workspace whose brand accounts are played by the platform emulator, which feeds them
## customer messages live (a Discourse forum and a WordPress blog among them); replies go
## back to the emulator.
EMULATOR_PORT ?= 8025
EMULATOR_URL := http://127.0.0.1:$(EMULATOR_PORT)
run: migrate
	$(BIN)/python manage.py demo_workspace
	$(BIN)/python manage.py demo_channels
	@CAUSERIE_PUBLIC_URL=http://$(HOST):$(PORT) $(BIN)/python manage.py run_emulator \
		--port $(EMULATOR_PORT) --feed demo --interval 4 & EMULATOR=$$!; \
	trap 'kill $$EMULATOR 2>/dev/null' EXIT INT TERM; \
	DJANGO_SETTINGS_MODULE=config.settings.local \
	CAUSERIE_PUBLIC_URL=http://$(HOST):$(PORT) \
	CAUSERIE_GRAPH_API_URL=$(EMULATOR_URL) CAUSERIE_INSTAGRAM_API_URL=$(EMULATOR_URL) \
	CAUSERIE_X_API_URL=$(EMULATOR_URL) CAUSERIE_TELEGRAM_API_URL=$(EMULATOR_URL) \
	CAUSERIE_YOUTUBE_API_URL=$(EMULATOR_URL) CAUSERIE_DISCOURSE_API_URL=$(EMULATOR_URL) \
	CAUSERIE_WORDPRESS_API_URL=$(EMULATOR_URL) \
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --no-access-log \
		--lifespan off

## Tests: SQLite by default; PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: install
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --api-version v1 --file openapi.yaml

## Schemathesis against the live service (seeded workspace, test settings): no 5xx, every
## response as the schema says. DATABASE_URL/REDIS_URL as for `make test` (the database is
## recreated: give it its own name); ST_MAX_TIME bounds the run (default 150 s).
schemathesis: install
	bash .ci/schemathesis

## Production processes (settings from the environment, see README).
web: install
	DJANGO_SETTINGS_MODULE=config.settings.production $(BIN)/gunicorn config.wsgi:application \
		--bind $(HOST):$(PORT) --workers 2

## Both workers: the default queues (ingest, webhook deliveries) in processes, the replies'
## sends (queue outbound) in threads; under a supervisor, run each as a service of its own.
worker: install
	@DJANGO_SETTINGS_MODULE=config.settings.production $(BIN)/celery -A config worker -l info \
		-Q outbound -P threads -c 8 -n outbound@%h & SENDS=$$!; \
	trap 'kill $$SENDS 2>/dev/null' EXIT INT TERM; \
	DJANGO_SETTINGS_MODULE=config.settings.production $(BIN)/celery -A config worker -l info \
		-Q celery,webhooks

beat: install
	DJANGO_SETTINGS_MODULE=config.settings.production $(BIN)/celery -A config beat -l info

## Fault injection (tests/faults): its own PostgreSQL and Redis on free ports, real
## processes, the long profile (a few thousand deliveries). CI runs the short one in `make test`.
.PHONY: faults
faults: install
	CAUSERIE_FAULTS=long $(BIN)/python -m pytest tests/faults -p no:cacheprovider

## Soak (bench/soak.py): SOAK_SECONDS (default 1800) of mixed load on its own PostgreSQL and
## Redis; writes bench/soak.json and BENCHMARKS.md's Soak section, fails on growth or errors.
.PHONY: soak
soak: install
	$(BIN)/python -m bench.soak

## Benchmarks on PostgreSQL and Redis (README, "Benchmarks"): the database causerie_bench on
## BENCH_DATABASE_URL's server is recreated and BENCH_REDIS_URL's database is flushed.
## Both write BENCHMARKS.md and bench/results.json.
BENCH_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/causerie)
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/9
.PHONY: bench bench-quick
bench: install
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python -m bench --size full

bench-quick: install
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python -m bench --size quick

clean:
	rm -rf $(VENV) causerie.sqlite3 .pytest_cache .ruff_cache
