PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= build/demo

.PHONY: venv demo test bench lint format docs serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -e '.[dev]'
	$(BIN)/python -m compileall -q src >/dev/null
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/meshkit demo run --scale 1 --workspace $(DEMO_DIR)

PG_PORT ?= 5433

serve: demo
	MESHKIT_SERVE_PG_PORT=$(PG_PORT) $(BIN)/meshkit demo serve --workspace $(DEMO_DIR)

docs: $(STAMP)
	$(BIN)/python docs/gen_cli_reference.py
	$(BIN)/mkdocs build --strict --site-dir build/site

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
