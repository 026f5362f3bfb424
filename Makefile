# One venv in the repo; torch first so pip never pulls a second one.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: install test test-all lint pretrain train confounding bench bench-data bench-gpu clean

# The CSPNeXt-t backbone `make train` starts from: trained by `make pretrain`, shipped in git.
BACKBONE := experiments/pretrain_synthetic/cspnext-t_udp_synthetic_128x96.pt

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel

install: $(PY)
	$(PIP) install $(TORCH)
	$(PIP) install -e ".[dev]" $(TORCH)
	# xtcocotools' PyPI wheel is built against numpy 1 and fails to import under numpy 2:
	# rebuild it from source against the venv's numpy (replacing any wheel pulled in above).
	$(PIP) install cython numpy
	$(PIP) install --no-build-isolation --no-binary xtcocotools --force-reinstall --no-deps "xtcocotools>=1.14.3,<2"

# CI's command: everything but the tests marked slow (those run in `make test-all`), on two
# pytest-xdist workers of one torch thread each (tests/conftest.py): the suite waits on process
# start-ups and imports as much as on arithmetic, so two workers keep both cores busy. Whole files
# go to one worker (--dist loadfile), so a module's shared run (a module-scoped fixture: the smoke
# run, the DDP run, the resume pair ...) is built once, not once on each worker. (xdist's finer
# --dist loadgroup does not group under pytest 9: it renames item._nodeid, which pytest 9 no
# longer reads.)
TEST_WORKERS ?= 2
test:
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile --durations=30

test-all:
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The chain's first step on the embedded data: heatmap (UDP) pretraining of CSPNeXt-t on a
# synthetic set drawn with seed 1 (make train's data is seed 0), then its backbone -> $(BACKBONE).
pretrain:
	$(VENV)/bin/cigpose-synth --out data/synthetic_pretrain --seed 1 --num-train 6000 --num-val 100 --num-val-ood 100
	rm -rf logs/pretrain_synthetic
	$(VENV)/bin/cigpose-train experiment=pretrain_synthetic hydra.run.dir=logs/pretrain_synthetic
	$(VENV)/bin/cigpose-backbone export logs/pretrain_synthetic/checkpoints/last.ckpt $(BACKBONE) \
		--note "make pretrain: cigpose-train experiment=pretrain_synthetic (seed 42), data seed 1"

# The embedded default job, the chain's second step: CIGPose-t from the pretrained backbone on
# the synthetic whole-body data (generated once under data/), trained and evaluated on the CPU;
# per-part metrics for val and val_ood and the pose-following check printed at the end.
train:
	$(VENV)/bin/cigpose-backbone verify $(BACKBONE)
	$(VENV)/bin/cigpose-synth --out data/synthetic --num-train 1600 --num-val 200 --num-val-ood 200
	rm -rf logs/synthetic_default
	$(VENV)/bin/cigpose-train experiment=synthetic_default hydra.run.dir=logs/synthetic_default
	$(VENV)/bin/cigpose-report-synthetic logs/synthetic_default

# The causal benchmark: RTMPose vs CIGPose (default and trained scorer) vs the Table 4 ablations
# and the no-context controls, 3 seeds each, on the synthetic data; tables and figures in
# experiments/confounding/output/; a rerun trains only unfinished jobs (ARGS="--seeds 0" etc.).
confounding:
	$(PY) experiments/confounding/run.py $(ARGS)

bench:
	$(PY) -m benchmarks.run_all

bench-data:
	$(PY) -m benchmarks.bench_data

# CIGPose-l 256x192 on one GPU in under 10 minutes (benchmarks/bench_gpu.py: training variants,
# loader workers, inference), then BENCHMARKS.md; ARGS="--device cpu --size t ..." for other runs.
bench-gpu:
	$(PY) -m benchmarks.bench_gpu $(ARGS)
	$(PY) -m benchmarks.report

lint:
	$(VENV)/bin/ruff check cigpose tests

clean:
	rm -rf build dist *.egg-info .pytest_cache
