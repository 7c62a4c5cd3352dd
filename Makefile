# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test bench check clean chromium

$(PY):
	$(PYTHON) -m venv $(VENV)

# Byte-compiled up front, as a wheel install would be: an editable install compiles on import,
# and with PYTHONDONTWRITEBYTECODE set every command would pay ~0.15 s to compile the package again.
# An editable install by hatchling (before the C module) could leave an empty
# site-packages/policyengine, which then shadows the package as a namespace package.
CLEAR_OLD_INSTALL := find $(VENV)/lib -maxdepth 3 -type d -name policyengine -empty -delete
# The editable install as a path in a .pth file ("compat"), not setuptools' import hook: the hook's
# module imported pathlib, urllib.parse and importlib.util at every start of Python in the venv,
# 8 ms of a 70 ms `eval` (10 ms → under 1 ms for `python -c pass`), which a wheel install never pays.
EDITABLE_MODE := --config-settings editable_mode=compat

$(STAMP): pyproject.toml setup.py $(wildcard policyengine/*/*.c policyengine/*/*.h) | $(PY)
	$(CLEAR_OLD_INSTALL)
	$(PIP) install --quiet --disable-pip-version-check -e . $(EDITABLE_MODE)
	$(PY) -m compileall -q policyengine >/dev/null
	touch $@

$(DEV_STAMP): pyproject.toml setup.py $(wildcard policyengine/*/*.c policyengine/*/*.h) | $(PY)
	$(CLEAR_OLD_INSTALL)
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev]' $(EDITABLE_MODE)
	$(PY) -m compileall -q policyengine >/dev/null
	touch $(STAMP) $@

demo: $(STAMP)
	$(VENV)/bin/policyengine check policies/community
	$(VENV)/bin/policyengine eval --policy policies/community --out demo-decisions.jsonl data/sample/community-chat.jsonl.gz
	@echo
	@echo "decisions written to demo-decisions.jsonl; the first ten moderation decisions:"
	@grep -v '"award_points"' demo-decisions.jsonl | head -n 10

# The HTML report is tested in headless Chromium, from Debian's package.
CHROMIUM := $(shell command -v chromium 2>/dev/null)

chromium:
ifeq ($(CHROMIUM),)
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || \
		echo "warning: could not install chromium; the report's browser test will fail"
endif

test: $(DEV_STAMP) chromium
	$(VENV)/bin/policyengine test policies
	$(PY) -m pytest

# Peers are optional: a machine that cannot build durable-rules still runs the rest.
bench: $(DEV_STAMP)
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev,peers]' $(EDITABLE_MODE) || echo "warning: peer engines not installed; benchmarks.peers will skip them"
	$(PY) -m pytest benchmarks --benchmark-enable -q -p no:cacheprovider
	$(PY) -m benchmarks.targets
	$(PY) -m benchmarks.throughput --events 1000000
	$(PY) -m benchmarks.rule_scaling --events 60000
	$(PY) -m benchmarks.workers --events 300000
	$(PY) -m benchmarks.workers --events 10000000 --members 1000000 --repeat 1
	$(PY) -m benchmarks.scale --events 10000000 --members 1000000
	$(PY) -m benchmarks.latency --policy policies/community --events 300000
	$(PY) -m benchmarks.peers --events 100000

clean:
	rm -rf $(VENV) demo-decisions.jsonl .pytest_cache
