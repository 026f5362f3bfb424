# One venv in the repo; torch first so pip never pulls a second one.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: install test test-all lint train bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel

install: $(PY)
	$(PIP) install $(TORCH)
	$(PIP) install -e ".[dev]" $(TORCH)

test:
	$(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check cigpose tests

clean:
	rm -rf build dist *.egg-info .pytest_cache
