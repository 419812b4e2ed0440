# Conveniences over the two README commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

BASE ?= main
SET ?= noise.factor=0.1,0.3,0.5,0.7
JOBS ?= 2
PARAM ?= noise.factor
MODEL ?= denoise
REV ?=
RUN := PATH=$(CURDIR)/$(BIN):$$PATH

WHAT ?=
.PHONY: help install lock seed-spread repro pull push exp-run quick test check docs vendor verify review gate sweep slurm-sweep experiments bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

# The README's install, from the lock: every package pinned with its hashes. pip compiles the bytecode on
# one core; compileall does it on all of them.
$(BIN)/dvc: pyproject.toml requirements.lock
	"$$PYTHON" -m venv $(VENV)
	$(BIN)/pip install --quiet --no-compile --require-hashes -r requirements.lock
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(BIN)/dvc  ## create .venv and install the locked versions and the project

PIP_TOOLS := pip-tools==7.6.2
lock:  ## update requirements.lock (every package, with hashes) to pyproject.toml; existing pins are kept
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet $(PIP_TOOLS)
	.lock-venv/bin/pip-compile --quiet --all-extras --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	rm -rf .lock-venv

repro: install  ## run the whole pipeline at the committed settings (dvc repro)
	$(RUN) dvc repro

pull: install  ## the committed models, data and run cache from the DVC remote instead of retraining
	$(RUN) python -m tools.sharing.remote pull

# dvc exp run --pull, the remote checked first as make pull checks it (docs/sharing.md, "Trust").
exp-run: install  ## one experiment, restoring from the DVC remote what others ran: SET=noise.factor=0.3
	$(RUN) python -m tools.sharing.remote exp-run -S "$$SET"

push: install  ## after a run: results, run cache and the files its entries name, to the DVC remote
	$(RUN) python -m tools.sharing.remote push

quick: install  ## every stage on small settings in a temporary copy; TINY=1: on the shipped sample, no download
	$(RUN) python -m tools.dev.sandbox $(if $(TINY),--tiny tests/data/mnist_sample.npz)

test: install  ## the test suite, including a tiny end-to-end dvc repro (fast loop: .venv/bin/pytest -m "not e2e" -n 2)
	$(BIN)/pytest -n 3 --dist loadscope

check: install  ## fail if committed results do not match the code and params; REMOTE=1: or are not on the DVC remote
	$(RUN) python -m tools.sharing.check
	$(if $(REMOTE),$(RUN) python -m tools.sharing.remote check)

docs: install  ## regenerate every generated part of README.md and docs/ (results table, stage tables, quoted numbers)
	$(BIN)/python -m tools.docs.facts --write

vendor: install  ## download the pinned Vega scripts (checked against their npm integrity) into vendor/vega/, so plots render offline
	$(RUN) python -m tools.review.vega

# After README command 1 (on any CPU): did the rerun reproduce the committed results, metric by metric?
verify: install  ## judge this checkout's rerun against the committed results (make review BASE=HEAD) into report.md
	$(RUN) python -m tools.review.review --base HEAD --out report.md

review: install  ## review results against BASE (default main) into report.md; ALLOW_STALE=1 draft, FAIL_ON_WORSE=1 gate
	$(RUN) python -m tools.review.review --base "$$BASE" --out report.md $(if $(ALLOW_STALE),--allow-stale) $(if $(FAIL_ON_WORSE),--fail-on-worse)

# The gate as the pull-request workflow runs it: BASE's own review code, thresholds and key metrics (a git
# worktree of BASE) judge this checkout's results; with DVC_REMOTE_URL, recomputed from its pulled models.
gate: install  ## fail on a key metric worse beyond 2 σ of BASE, judged by BASE's code (tools/review/gate.py)
	$(RUN) python -m tools.review.gate --base "$$BASE" --head . --out report.md

# Each worker gets nproc / JOBS TensorFlow threads; PYTHONPATH=src makes each experiment import its
# own copy of the library rather than this checkout's (which may change while the queue runs).
sweep: install  ## queue SET (e.g. noise.factor=0.1,0.3) and start JOBS workers sharing the cores
	@[[ "$$JOBS" =~ ^[1-9][0-9]*$$ ]] || { echo "error: JOBS=$$JOBS: expected a whole number of workers, 1 or more" >&2; exit 2; }
	$(RUN) dvc exp run --queue -S "$$SET"
	$(RUN) MNIST_AE_THREADS=$$(( $$(nproc) / JOBS > 0 ? $$(nproc) / JOBS : 1 )) PYTHONPATH=src \
		dvc queue start -j "$$JOBS"
	@echo "follow with: dvc queue status; then make experiments PLOT=1 PARAM=... MODEL=..."

# A grid file swept by Slurm (one array task per line) or the CI matrix (.github/workflows/sweep.yml).
# TIME, MEM and CPUS are each point's Slurm requests; SBATCH adds options (--partition=..., --wait).
GRID ?= grids/noise.grid
REPO ?=
COMMIT ?=
DVC_REMOTE ?=
TIME ?= 02:00:00
MEM ?= 8G
CPUS ?= 2
SBATCH ?=
# REPO (a token in it too) reaches the jobs in their environment, never in a command line (tools/sweeps/grid_job.py).
slurm-sweep: install  ## submit GRID as a Slurm job array (REPO, DVC_REMOTE; per point TIME, MEM, CPUS)
	$(if $(DVC_REMOTE),,$(error DVC_REMOTE=: the DVC remote every node reaches (docs/scaling.md)))
	set -f; sweep=$$(MNIST_AE_REPO="$${REPO:-$$(git remote get-url origin)}" sbatch --parsable \
		--array="$$($(BIN)/python -m tools.sweeps.grid_job --array "$$GRID")" --time="$$TIME" --mem="$$MEM" \
		--cpus-per-task="$$CPUS" $$SBATCH tools/sweeps/slurm_sweep.sbatch "$${COMMIT:-$$(git rev-parse HEAD)}" \
		"$$DVC_REMOTE" "$$GRID"); code=$$?; status="sweeps/$$(basename "$$GRID" .grid)-status"; \
		[ -z "$$sweep" ] || echo "sweep $${sweep%%;*}; when it ends: make experiments GRID=$$GRID STATUS=$$status" \
		"SWEEP=$${sweep%%;*}"; exit $$code

SEEDS ?= 43,44,45
POOL ?=
# One worker with the default thread count, as the committed run used: the spread is then the seed's alone.
# POOL=deep (on another CPU): only those models' stages run, and their runs join the committed spread.
# POOL=vae ADD=1: only the key metrics the committed spread lacks are added, from these runs alone.
seed-spread: install  ## queue the committed params at SEEDS, wait (tens of minutes each), write records/seed_spread.json
	set -f; IFS=, read -ra pool <<< "$$POOL"; \
		$(RUN) dvc exp run --queue -S "base.seed=$$SEEDS" "$${pool[@]/#/evaluate@}"
	$(RUN) PYTHONPATH=src dvc queue start -j 1 > /dev/null 2>&1
	$(RUN) python -m tools.dev.seed_spread --wait $(if $(POOL),--models "$$POOL" $(if $(ADD),--add-into,--pool-into) records/seed_spread.json)

# The sweep report lists every point as finished, failed (with its log's last lines) or never reported: of
# the local queue by default, of a Slurm or CI sweep with GRID and STATUS (its jobs' status folder).
# Not echoed: its output is the report (the sweep workflow appends it to the job summary).
STATUS ?=
SWEEP ?=
experiments: install  ## table of changed params and key metrics, then the sweep report; MD=1 markdown; PLOT=1: MODEL's metrics against PARAM (REV: of REV)
	@$(if $(PLOT),$(RUN) python -m tools.sweeps.sweep --param "$$PARAM" --model "$$MODEL",$(RUN) python -m tools.sweeps.exp_table \
		$(if $(STATUS),--grid "$$GRID" --status "$$STATUS" --sweep "$$SWEEP") $(if $(MD),--md)) $(if $(REV),--rev "$$REV")

# No WHAT: sections 1-5 into benchmarks/bench.json and bench.md (docs/performance.md); WHAT=canonical: only
# section 6, dvc repro --force in place (about 40 min on 2 cores), the canonical overhead and stage memory.
bench: install  ## pipeline vs plain Keras, start-up, stage memory (benchmarks/bench.json and .md); WHAT=canonical
	$(if $(filter-out canonical,$(WHAT)),$(error WHAT=$(WHAT): expected canonical or nothing))
	$(RUN) python -m benchmarks.bench $(if $(WHAT),--canonical)

# Every value a user or a workflow passes is data. Its text is taken as given, never expanded by make (a
# `$(shell ...)` in it stays text), and it reaches the recipes as an environment variable, read there as
# "$$NAME": a quote, `;` or `$(...)` in it never becomes shell code (tests/test_make_inputs.py).
USER_VARS := PYTHON BASE SET JOBS PARAM MODEL REV GRID REPO COMMIT DVC_REMOTE TIME MEM CPUS SBATCH SEEDS POOL \
	STATUS SWEEP WHAT TINY MD PLOT ALLOW_STALE FAIL_ON_WORSE REMOTE ADD
$(foreach var,$(USER_VARS),$(eval override $(var) := $$(value $(var))))
export $(USER_VARS)
