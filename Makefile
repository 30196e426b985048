# The two commands: `make run` and `make test`. Everything else is a step they take.
SHELL := /bin/bash
PORT ?= 8000
VENV := .venv
SYNCED := $(VENV)/.synced
# uv from PATH if it works, else the one pip installs for this Python (see `uv` below).
UV := $(shell if uv --version >/dev/null 2>&1; then echo uv; else echo python3 -m uv; fi)
# No interpreter downloads: use the Python this machine has (3.13 if present, else python3).
export UV_PYTHON_DOWNLOADS ?= never

.PHONY: run serve test bench install lint format messages clean uv

run: export SITE_URL ?= http://127.0.0.1:$(PORT)
run: install ## Install, migrate, load the demo data and serve on http://127.0.0.1:$(PORT)
	@mkdir -p var
	DEBUG=$${DEBUG:-on} $(VENV)/bin/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-on} $(VENV)/bin/python manage.py createcachetable
	DEBUG=$${DEBUG:-on} $(VENV)/bin/python manage.py seed_demo
	@# A task worker beside the development server (issued PDFs, notices, the schedule); it
	@# stops with the server. TASK_BACKEND=immediate runs tasks in the request instead.
	@if [ "$${TASK_BACKEND:-database}" = database ]; then \
	  DEBUG=$${DEBUG:-on} $(VENV)/bin/python manage.py run_worker --no-reload --interval 2 & \
	  worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; fi; \
	DEBUG=$${DEBUG:-on} $(VENV)/bin/python manage.py runserver 127.0.0.1:$(PORT)

serve: install ## Production server: migrate, collectstatic, then gunicorn (settings from the environment)
	$(VENV)/bin/python manage.py migrate --noinput
	$(VENV)/bin/python manage.py createcachetable
	$(VENV)/bin/python manage.py collectstatic --noinput
	$(VENV)/bin/gunicorn --config config/gunicorn.py --bind "$${HOST:-127.0.0.1}:$(PORT)"

# The whole suite runs in parallel, one pytest-xdist worker per core (`PYTEST_WORKERS=0`: in
# this process), each worker taking whole test files. With `ARGS` (e.g. ARGS="tests/x.py -x")
# only that runs, in one process, unless ARGS asks for workers itself (`-n 2`).
PYTEST_WORKERS ?= auto
test: install ## Run the whole test suite (DATABASE_URL picks the database)
	$(VENV)/bin/pytest $(if $(strip $(ARGS)),,-n $(PYTEST_WORKERS) --dist loadfile) $(ARGS)

bench: install ## Time every page kind on the production server, on the seeded database of DATABASE_URL
	DEBUG=$${DEBUG:-on} $(VENV)/bin/python manage.py createcachetable
	DEBUG=$${DEBUG:-on} $(VENV)/bin/python manage.py bench $(ARGS)

lint: install ## ruff check, ruff format --check and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

messages: install ## Refresh the Indonesian catalogue from the code and compile it
	DEBUG=on $(VENV)/bin/python manage.py makemessages -l id --ignore=.venv --ignore=var --ignore=tests --no-obsolete
	DEBUG=on $(VENV)/bin/python manage.py compilemessages -l id --ignore=.venv

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

install: $(SYNCED)

$(SYNCED): pyproject.toml uv.lock | uv
	@py=3.13; $(UV) python find $$py >/dev/null 2>&1 || py=python3; \
	  echo "$(UV) sync --locked --python $$py"; $(UV) sync --locked --python $$py
	@touch $@

uv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --user --quiet uv \
	  || python3 -m pip install --user --quiet --break-system-packages uv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
