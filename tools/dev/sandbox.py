"""Run the real pipeline in a throw-away copy of the repository, on small settings.

``python -m tools.dev.sandbox`` (``make quick``) shows every stage working in a few minutes without
touching this checkout's data, dvc.lock, metrics or plots. The end-to-end test uses the same code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from mnist_ae.dotted import set_existing
from mnist_ae.paths import FIGURES_DIR, RAW_NPZ, RESULTS_TABLE, SUMMARY
from tools import dvc_cli

# Small settings that still run every stage and every model.
QUICK_OVERRIDES: dict[str, Any] = {
    "prepare.train_subset": 5000,
    "prepare.test_subset": 1000,
    "train.epochs": 5,
    "train.batch_size": 32,
    "classifier.epochs": 1,
    "evaluate.probe_train_size": 1000,
    "evaluate.n_generated": 200,
    "evaluate.robustness_factors": [0.2, 0.5, 0.8],
    "figures.manifold_size": 10,
}


# Tiny settings for CI and the tests: a small Keras-layout sample (the tests ship 2,000 + 500 digits in
# tests/data/mnist_sample.npz), every stage and model.
TINY_OVERRIDES: dict[str, Any] = {
    "fetch.content_sha256": None,  # a sample is not the full MNIST
    "train.epochs": 5,
    "train.batch_size": 16,
    "classifier.epochs": 1,
    "evaluate.probe_train_size": 500,
    "evaluate.n_generated": 100,
    "evaluate.robustness_factors": [0.3, 0.6],
    "figures.manifold_size": 8,
}


# Results of the committed run; the sandbox makes its own.
# The pipeline's committed outputs, left out so the copy makes its own; records/seed_spread.json and the
# sweep record are not pipeline outputs (the report stage reads the first), so they are copied.
GENERATED = ("dvc.lock", "metrics/", "plots/", RESULTS_TABLE.as_posix(), SUMMARY.as_posix())


def copy_repository(source: Path, dest: Path) -> None:
    """Copy the files git would see (tracked and untracked, not ignored), less the generated ones."""
    listed = dvc_cli.git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for relative in filter(None, listed.split("\0")):
        if relative.startswith(GENERATED) or not (source / relative).is_file():
            continue
        (dest / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, dest / relative)


def commit_all(workdir: Path, message: str) -> None:
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", message)):
        dvc_cli.git(workdir, *args)


def apply_overrides(params_file: Path, overrides: dict[str, Any]) -> None:
    """Set dotted keys (``train.epochs``) in a params file; every key must already exist."""
    params = yaml.safe_load(params_file.read_text())
    for key, value in overrides.items():
        try:
            set_existing(params, key, value)
        except KeyError:
            raise KeyError(f"{key}: not a key of {params_file}") from None
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def sandbox_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This interpreter's bin first on PATH (stages run ``python``), the copy's own src importable."""
    env = {**os.environ, **(extra or {})}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(workdir / "src"), env.get("PYTHONPATH", "")])
    return env


def dvc(workdir: Path, *args: str, env: dict[str, str] | None = None, capture: bool = False):
    """Run this environment's dvc in ``workdir``; ``env`` should come from sandbox_env."""
    return subprocess.run([dvc_cli.executable(), *args], cwd=workdir, env=env, check=True, text=True,
                          capture_output=capture)


def prepare_sandbox(source: Path, dest: Path, overrides: dict[str, Any]) -> Path:
    """A committed copy of ``source`` with ``overrides`` applied and no results yet."""
    copy_repository(source, dest)
    apply_overrides(dest / "params.yaml", overrides)
    commit_all(dest, "sandbox: " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
    return dest


def tiny_overrides(sample: Path) -> dict[str, Any]:
    """TINY_OVERRIDES with ``sample`` as the local MNIST file."""
    return {"fetch.local_path": str(Path(sample).resolve()), **TINY_OVERRIDES}


def parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: expected key=value")
    return key, yaml.safe_load(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-S", "--set", action="append", type=parse_override, default=[], metavar="KEY=VALUE",
                        help="an extra params override, e.g. -S train.epochs=1")
    parser.add_argument("--tiny", type=Path, metavar="SAMPLE_NPZ",
                        help="run on this Keras-layout sample at 5 epochs, no download "
                             "(CI: tests/data/mnist_sample.npz)")
    parser.add_argument("--dir", type=Path, help="where to build the sandbox (default: a new temp dir)")
    args = parser.parse_args(argv)
    source = Path.cwd()
    dest = args.dir or Path(tempfile.mkdtemp(prefix="mnist-ae-quick-"))
    dest.mkdir(parents=True, exist_ok=True)
    if args.tiny and not args.tiny.is_file():
        raise SystemExit(f"error: {args.tiny}: file not found")
    overrides = tiny_overrides(args.tiny) if args.tiny else QUICK_OVERRIDES
    prepare_sandbox(source, dest, {**overrides, **dict(args.set)})
    extra = {}
    if args.tiny:
        extra["MNIST_NPZ"] = str(args.tiny.resolve())
    elif (source / RAW_NPZ).is_file():  # reuse this checkout's download, still checksum-verified
        extra["MNIST_NPZ"] = str((source / RAW_NPZ).resolve())
    env = sandbox_env(dest, extra)
    label = "tiny" if args.tiny else "quick"
    print(f"{label} run in {dest}", flush=True)
    dvc(dest, "repro", env=env)
    # The results table, not `dvc metrics show`: that one is 56 columns wide, mostly dashes.
    print("\n" + (dest / RESULTS_TABLE).read_text())
    print(f"{label} run finished: figures in {dest / FIGURES_DIR}, this table in {dest / RESULTS_TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
