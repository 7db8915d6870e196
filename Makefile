# Two commands do all set-up on a fresh clone (each creates .venv when missing and installs into it):
#   make demo   run the notebook series 01-06 on the demo profile (outputs in runs/, figures/, models/)
#   make test   ruff + the test suite, including the notebook series on the smoke profile
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= demo
EXTRAS ?= notebooks,pretrained,web,tracking,pipeline,dev
ARCH := $(shell uname -m)
# The torch build to install when the venv has none. Tested releases; override e.g.
#   make demo TORCH_SPEC="torch torchvision --index-url https://download.pytorch.org/whl/cpu"
ifeq ($(ARCH),aarch64)
TORCH_SPEC ?= torch==2.9.1 torchvision==0.24.1
else
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
endif
PYTEST_ARGS ?=

.PHONY: demo test lint venv browser clean-outputs help colab-links dist

help:
	@echo "make demo   - run notebooks 01-06 on the demo profile (about 8 min on 2 CPU cores)"
	@echo "make test   - ruff + pytest, notebooks on the smoke profile"

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@$(PY) -c "import torch, torchvision" 2>/dev/null || $(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install -e ".[$(EXTRAS)]"
	@touch $@

venv: $(VENV)/.installed

# Debian's chromium for the web demo's browser test (no browser download); skipped with a
# message when it cannot be installed (not root, no apt), and the browser test then reports a skip.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian chromium for the browser test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "could not install chromium: the browser test will be skipped"; \
	else echo "no /usr/bin/chromium and no root apt-get: the browser test will be skipped"; fi

# After setting Repository under [project.urls] in pyproject.toml (a fork): write it into every notebook's
# install cell and the README's "Open in Colab" badges (tests/test_colab.py checks they agree).
colab-links:
	$(PYTHON) -m auxiliary.faces.colab

# A wheel of the package and dist/skin-notebooks.zip (the notebooks, the README and that wheel) to hand out: unpacked
# on Colab (under /content or on Google Drive), every notebook's first cell installs from the wheel.
dist: venv
	rm -f dist/auxiliary-*.whl
	$(PY) -m pip wheel -q --no-deps -w dist .
	$(PY) -m auxiliary.faces.colab dist dist

lint: venv
	$(PY) -m ruff check .

test: venv browser
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

demo: venv
	$(PY) -m auxiliary run-all --profile $(PROFILE)

clean-outputs:
	@echo "remove generated outputs with: rm -rf data/synthetic data/splits data/cache runs/*/ figures/*.png models/*.json models/*.onnx"
