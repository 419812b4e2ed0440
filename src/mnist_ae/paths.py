"""Where every artifact lives, relative to the repository root (dvc.yaml lists the same paths)."""

from pathlib import Path

RAW_NPZ = Path("data/raw/mnist.npz")
RAW_PROVENANCE = Path("data/raw/mnist.json")  # which source served, and the content hash
MODELS_DIR = Path("models")
CLASSIFIER = MODELS_DIR / "classifier.keras"
METRICS_DIR = Path("metrics")
TRAIN_LOGS_DIR = Path("plots/train")
ROBUSTNESS_DIR = Path("plots/robustness")
FIGURES_DIR = Path("plots/figures")
RESULTS_TABLE = Path("reports/results.md")  # README.md's results block (make docs)
SEED_SPREAD = Path("records/seed_spread.json")  # make seed-spread; the report shows it beside the results
UNCERTAINTY_TABLE = Path("reports/uncertainty.md")  # docs/uncertainty.md's block (make docs)
SUMMARY = Path("reports/summary.json")  # key metrics only, for dvc exp show and pull-request review
RESUME_DIR = Path(".resume")  # training checkpoints of unfinished runs; git-ignored, not a DVC output


def data_dir(variant: str) -> Path:
    """data/clean (prepare) or data/noisy (noise): train.npz, val.npz, test.npz."""
    return Path("data") / variant


def model_file(name: str) -> Path:
    return MODELS_DIR / f"{name}.keras"


def metrics_file(name: str) -> Path:
    return METRICS_DIR / f"{name}.json"


def train_log_dir(name: str) -> Path:
    return TRAIN_LOGS_DIR / name


def robustness_file(name: str) -> Path:
    return ROBUSTNESS_DIR / f"{name}.csv"


def resume_dir(name: str) -> Path:
    return RESUME_DIR / name
