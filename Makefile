# Entry points: `make demo` (set up + offline demo run) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CORES  ?= all
STAMP  := $(VENV)/.installed
NPM    ?= npm
# npm ci writes this file last, so it marks a complete node_modules (lint only; tests need no npm).
JS_STAMP := node_modules/.package-lock.json

CONFIG ?= config/demo.yaml

.PHONY: setup lint-setup system-setup demo run resume test lint report report-zip clean

setup: $(STAMP)

# pip resolves a torch + torchvision pair that runs on the CPU (and on a GPU when present).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

# ESLint for the explorer's script, pinned in package.json/package-lock.json, into ./node_modules.
lint-setup: $(JS_STAMP)

$(JS_STAMP): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	@echo
	@echo "Report:    results/report.html   (open it in a browser: xdg-open results/report.html)"
	@echo "Explorer:  results/<dataset>/efficientnet_lite0/image/explorer/index.html"
	@echo "           (interactive map of the images; opens from disk, no server, no internet)"
	@echo "Encoders:  results/<dataset>/encoders.tsv and encoders.png (which embedding fits)"
	@echo "Tables:    results/<dataset>/efficientnet_lite0/image/{metrics.tsv,cluster,outliers,reduce}/"

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

# After Ctrl-C, a killed job or a crashed node: release the lock, rerun what is incomplete.
# `make resume` resumes the demo; `make resume CONFIG=config/config.yaml` the default run.
resume: $(STAMP)
	$(BIN)/python -m medembed.workflow.resume --cores $(CORES) --configfile $(CONFIG)

# The machine's Debian packages the tests need (chromium; slurm-wlm and munge for the
# local SLURM), installed with apt when missing, as root or through sudo; a no-op when
# they are there. The tests install nothing: they fail naming this target instead.
system-setup:
	.ci/system-setup

# Tests; pytest's exit code 5 (nothing collected) is an error here, not a pass.
test: system-setup $(STAMP)
	$(BIN)/python -m pytest -v --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP) $(JS_STAMP)
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/lint-imports --no-cache
	node_modules/.bin/eslint --max-warnings 0 src/medembed/explore/static eslint.config.js
	$(BIN)/snakemake --lint --configfile config/demo.yaml

report: $(STAMP)
	$(BIN)/snakemake --cores 1 --configfile config/demo.yaml --report results/snakemake_report.html

report-zip: $(STAMP)
	$(BIN)/snakemake --cores 1 --configfile config/demo.yaml --report results/report.zip

clean:
	rm -rf results logs .snakemake
