# The two commands in the README: `make demo` and `make test`. Each makes .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/bsim run scenarios/onboarding_demo.yaml --report reports/onboarding_demo \
		--json reports/onboarding_demo/report.json --junit reports/onboarding_demo/junit.xml

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -n auto --maxprocesses=4

bench: $(STAMP)
	$(BIN)/python benchmarks/sendbird_send.py
	$(BIN)/python benchmarks/braze_fanout.py
	$(BIN)/python benchmarks/bridge_paths.py
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/console_stream.py
	$(BIN)/python benchmarks/mocks.py
	$(BIN)/python benchmarks/chaos.py

clean:
	rm -rf $(VENV) .bsim .pytest_cache .ruff_cache .hypothesis
