# LeBRQ backend. `make run` serves on http://127.0.0.1:8000; `make test` runs the suite (SQLite, then MariaDB).
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint format smoke sysdeps install migrate clean

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

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@bash scripts/sysdeps.sh
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

migrate: install
	$(PY) manage.py migrate --noinput -v0

clean:
	rm -rf $(VENV) var
