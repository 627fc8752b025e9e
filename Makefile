# Two commands a newcomer needs (README Quick start): `make demo` and `make test`.
# Both create .venv on first use and reuse it afterwards (idempotent and fast).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench bot dashboard clean

# pip's own progress stays visible: the first install downloads a few hundred MB of wheels.
$(STAMP): pyproject.toml
	@echo "==> creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> upgrading pip"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> installing smallQ into $(VENV) (first run takes about a minute)..."
	$(BIN)/python -m pip install --progress-bar on -e ".[dev]"
	touch $(STAMP)
	@echo "==> installed; later runs reuse $(VENV)"

## Build a portfolio offline on the embedded sample data and write charts to out/charts
demo: $(STAMP)
	@echo "==> building a portfolio offline on the embedded sample data (charts in out/charts)"
	$(BIN)/smallq build --sectors "Information Technology,Health Care" --capital 10000 \
	    --risk moderate --charts out/charts

## Run the whole test suite (lint, import contracts and types first)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict smallq storage
	$(BIN)/mypy bot dashboard
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict smallq storage
	$(BIN)/mypy bot dashboard

bench: $(STAMP)
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_backtest.py
	$(BIN)/python bench/bench_sweep.py
	$(BIN)/python bench/bench_cli.py

bot: $(STAMP)
	$(BIN)/smallq-bot

## Start the web dashboard (Streamlit, headless) on SMALLQ_DASHBOARD_PORT (default 8501)
dashboard: $(STAMP)
	$(BIN)/smallq-dashboard

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
