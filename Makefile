# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv when
# missing and reinstall only when setup.cfg or the constraints change. Every install goes
# through constraints.txt, which pins torch==2.13.0 (the CPU wheel; any other torch pulls CUDA).
VENV ?= .venv
PY := $(VENV)/bin/python
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export RAY_USAGE_STATS_ENABLED := 0
export RAY_AUTH_MODE := disabled

.PHONY: demo test lint env
env: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

demo: env
	$(VENV)/bin/hwnas search examples/demo.yaml
	$(VENV)/bin/hwnas pareto runs/demo
	$(VENV)/bin/hwnas export runs/demo --top 1 --format onnx -o runs/demo/export
	for config in runs/demo/export/trial*.json; do \
	    $(VENV)/bin/hwnas train $$config --force -o runs/demo/export/winner.trained.pt && \
	    $(VENV)/bin/hwnas build $$config --weights runs/demo/export/winner.trained.pt \
	        --onnx runs/demo/export/winner.onnx --calibration mnist1d || exit 1; \
	done

lint: env
	$(VENV)/bin/ruff check hwnas tests benchmarks
	$(VENV)/bin/ruff format --check hwnas tests benchmarks

# two test processes: most tests wait on one core (a training step, a Ray start, a child
# process); pytest-xdist runs them side by side, about halving the suite's time here
test: lint
	$(PY) -m pytest -q -n 2
