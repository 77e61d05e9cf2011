# Every target works from a fresh clone: .venv is created and filled on first use.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: demo test test-min tools lint typecheck check bench readme clean

$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	# compat: a plain path entry instead of an import hook, so every command starts ~10 ms sooner
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

demo: $(STAMP)  ## the offline planner on the bundled example (no API key needed)
	rm -rf demo && mkdir -p demo && cp -r fixtures/workspaces/health-check demo/ && chmod -R u+w demo
	$(PY) -m agent run --workspace demo/health-check --backend offline
	$(PY) -m agent validate --workspace demo/health-check

test: $(STAMP)
	$(PY) -m pytest -q

tools: $(STAMP)  ## shellcheck and promtool from Debian (root); the PyPI linters come with .[dev]
	bash .ci/install-tools.sh .venv/bin

test-min:  ## the tests on the lowest versions of the dependencies that pyproject.toml allows
	python3 -m venv .venv-min
	.venv-min/bin/python -m pip install --quiet uv
	.venv-min/bin/uv pip install --quiet --python .venv-min/bin/python --resolution lowest-direct -e .
	.venv-min/bin/uv pip install --quiet --python .venv-min/bin/python pytest
	.venv-min/bin/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(PY) -m ruff check agent tests benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy

check: lint typecheck test  ## what CI runs

bench: $(STAMP)
	$(PY) benchmarks/run.py

readme: $(STAMP)  ## regenerate the policy table in README.md from the rule registry
	$(PY) -m tests.test_readme --write

clean:
	rm -rf .venv .venv-min demo .pytest_cache .mypy_cache .ruff_cache *.egg-info
