# LeBRQ backend. `make run` serves on http://127.0.0.1:8000; `make test` runs the suite (SQLite, then MariaDB).
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint format smoke sysdeps install lock migrate clean

run: install migrate
	$(PY) manage.py seed_demo
	$(PY) manage.py collectstatic --noinput -v0
	UVICORN_HTTP=$${UVICORN_HTTP:-lebrq.http.protocols:AutoHTTPProtocol} \
	UVICORN_LOOP=$${UVICORN_LOOP:-lebrq.http.loops:new_event_loop} \
	$(VENV)/bin/uvicorn lebrq.asgi:application --host $(HOST) --port $(PORT) --timeout-keep-alive 5

test: install
	$(PY) scripts/run_tests.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

smoke:
	bash scripts/smoke.sh

install: $(VENV)/.installed

# Installs exactly the lock (every package pinned, each download checked against its hash), then makes sure that
# the lock still covers requirements*.txt: an edit there without `make lock` stops here.
$(VENV)/.installed: requirements.lock requirements-dev.lock requirements.txt requirements-dev.txt
	@bash scripts/sysdeps.sh
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock
	@# sniffpy (needed by redbot's httplint) installs its own tests as a top-level "tests" package, which would
	@# shadow this project's tests/ (bench/files.py imports tests.live.harness): remove it.
	rm -rf $(VENV)/lib/python3*/site-packages/tests
	@$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --no-index --dry-run -r requirements-dev.txt \
		>/dev/null 2>&1 || { echo "requirements*.txt asks for packages that requirements-dev.lock lacks: run make lock" >&2; exit 1; }
	touch $@

# Regenerates the lock files from the human-edited requirements.txt and requirements-dev.txt (runtime versions are
# shared: the dev lock is constrained by the runtime lock). Versions already locked are kept unless an input asks
# for another.
LOCK := $(VENV)/bin/uv pip compile --python $(PY) --generate-hashes --quiet --custom-compile-command "make lock"

lock: $(VENV)/bin/uv
	$(LOCK) -o requirements.lock requirements.txt
	$(LOCK) -c requirements.lock -o requirements-dev.lock requirements-dev.txt

# uv, at the version pinned in requirements-dev.txt, without the lock (which it may be about to rewrite).
$(VENV)/bin/uv:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check "$$(grep -E '^uv==' requirements-dev.txt)"

migrate: install
	$(PY) manage.py migrate --noinput -v0

clean:
	rm -rf $(VENV) var
