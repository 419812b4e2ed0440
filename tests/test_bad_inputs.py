"""A battery of user mistakes, each through a real stage entry point.

Every case must exit non-zero with one `error:` line naming the key or file, print no traceback,
and leave no output behind. Each case runs in an empty directory holding only what it sets up.
"""

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from mnist_ae.sandbox import SAMPLE

from conftest import ROOT


def params_with(raw, path, value):
    """A copy of params.yaml with the dotted ``path`` set to ``value`` (or deleted, for DELETE)."""
    params = copy.deepcopy(raw)
    *parents, leaf = path.split(".")
    node = params
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return params


DELETE = object()

# (case id, dotted key, bad value, the stage that reads it, expected error line without "error: ")
PARAM_CASES = [
    ("unknown-section", "augment", {"flip": True}, "noise", "augment: unknown key; expected one of ["),
    ("unknown-key", "train.epoch", 5, "noise", "train.epoch: unknown key; expected one of ["),
    ("missing-section", "classifier", DELETE, "noise", "classifier: missing key"),
    ("missing-key", "base.seed", DELETE, "noise", "base.seed: missing key"),
    ("string-for-int", "train.epochs", "ten", "noise", "train.epochs must be int, got 'ten'"),
    ("bool-for-int", "train.epochs", True, "noise", "train.epochs must be int, got True"),
    ("list-for-float", "noise.factor", [0.5], "noise", "noise.factor must be float, got [0.5]"),
    ("negative-noise", "noise.factor", -0.5, "noise", "noise.factor must be >= 0, got -0.5"),
    ("val-fraction-0", "prepare.val_fraction", 0.0, "prepare", "prepare.val_fraction must be in (0, 1), got 0.0"),
    ("val-fraction-1", "prepare.val_fraction", 1.0, "prepare", "prepare.val_fraction must be in (0, 1), got 1.0"),
    ("zero-epochs", "train.epochs", 0, "noise", "train.epochs must be >= 1, got 0"),
    ("zero-batch", "train.batch_size", 0, "noise", "train.batch_size must be >= 1, got 0"),
    ("zero-code-size", "train.models.dense.code_size", 0, "noise",
     "train.models.dense.code_size must be >= 1, got 0"),
    ("negative-learning-rate", "train.learning_rate", -0.1, "noise",
     "train.learning_rate must be null or > 0, got -0.1"),
    ("unknown-optimizer", "train.optimizer", "sgd", "noise", "train.optimizer must be one of"),
    ("unknown-model", "train.models.transformer", {"input": "clean"}, "noise",
     "train.models.transformer: unknown model; known models: dense"),
    ("no-models", "train.models", {}, "noise", "train.models must be a non-empty mapping"),
    ("bad-model-input", "train.models.dense.input", "dirty", "noise", "train.models.dense.input must be"),
    ("zero-subset", "prepare.train_subset", 0, "prepare", "prepare.train_subset must be null or >= 1, got 0"),
    ("unknown-figure-model", "figures.samples", ["gan"], "figures", "figures.samples: 'gan' is not one of"),
    ("empty-robustness", "evaluate.robustness_factors", [], "evaluate",
     "evaluate.robustness_factors must be a non-empty list of values >= 0"),
]


def run(stage_args, cwd, env=None):
    return subprocess.run([sys.executable, str(ROOT / "stages" / stage_args[0]), *stage_args[1:]], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def assert_fails_cleanly(result, expected, workdir, before):
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: " + expected), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert listing(workdir) == before  # nothing written, not even a temporary file


@pytest.mark.parametrize("case, path, value, stage, expected", PARAM_CASES, ids=[c[0] for c in PARAM_CASES])
def test_bad_param(tmp_path, raw_params, case, path, value, stage, expected):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_with(raw_params, path, value)))
    args = [f"{stage}.py", *(["dense"] if stage == "evaluate" else [])]
    before = listing(tmp_path)
    assert_fails_cleanly(run(args, tmp_path), expected, tmp_path, before)


def test_params_file_that_is_not_yaml(tmp_path):
    (tmp_path / "params.yaml").write_text("train: [epochs: 5\n")
    before = listing(tmp_path)
    assert_fails_cleanly(run(["noise.py"], tmp_path), "params.yaml: not valid YAML", tmp_path, before)


def test_missing_params_file(tmp_path):
    assert_fails_cleanly(run(["noise.py"], tmp_path), "params.yaml: file not found", tmp_path, [])


def test_unknown_model_on_the_command_line(tmp_path, raw_params):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    before = listing(tmp_path)
    assert_fails_cleanly(run(["train.py", "bogus"], tmp_path), "unknown model 'bogus'", tmp_path, before)


@pytest.fixture
def tiny_params(tmp_path, raw_params):
    """params.yaml for the shipped sample, in an empty directory."""
    params = params_with(raw_params, "fetch.local_path", str(SAMPLE))
    params["fetch"]["content_sha256"] = None
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def test_missing_raw_file(tmp_path, tiny_params):
    before = listing(tmp_path)
    assert_fails_cleanly(run(["prepare.py"], tmp_path), "data/raw/mnist.npz: file not found", tmp_path, before)


def test_corrupt_raw_file(tmp_path, tiny_params):
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "mnist.npz").write_bytes(SAMPLE.read_bytes()[:4000])
    before = listing(tmp_path)
    assert_fails_cleanly(run(["prepare.py"], tmp_path), "data/raw/mnist.npz: corrupt .npz file", tmp_path, before)


def test_checksum_mismatch(tmp_path, tiny_params):
    tiny_params["fetch"]["content_sha256"] = "0" * 64
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    before = listing(tmp_path)
    result = run(["fetch.py"], tmp_path, env={"MNIST_NPZ": ""})
    assert_fails_cleanly(result, f"local:{SAMPLE}: content sha256 mismatch", tmp_path, before)


def test_subset_larger_than_the_data(tmp_path, tiny_params):
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "mnist.npz").write_bytes(SAMPLE.read_bytes())
    tiny_params["prepare"]["train_subset"] = 5000
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    before = listing(tmp_path)
    assert_fails_cleanly(run(["prepare.py"], tmp_path),
                         "prepare.train_subset: 5000 is more than the 2000 train images in data/raw/mnist.npz",
                         tmp_path, before)


def test_missing_intermediate_file(tmp_path, tiny_params):
    assert_fails_cleanly(run(["noise.py"], tmp_path), "data/clean/train.npz: file not found", tmp_path,
                         listing(tmp_path))


def test_wrongly_shaped_intermediate_file(tmp_path, tiny_params):
    clean = tmp_path / "data" / "clean"
    clean.mkdir(parents=True)
    for name in ("train", "val", "test"):
        np.savez(clean / f"{name}.npz", x=np.zeros((3, 784), np.float32), y=np.zeros(3, np.uint8))
    before = listing(tmp_path)
    assert_fails_cleanly(run(["noise.py"], tmp_path), "data/clean/train.npz: x must be float32 digits", tmp_path,
                         before)


def test_output_path_that_cannot_be_written(tmp_path, tiny_params):
    """data/noisy exists as a file, so the noise stage cannot put its directory there."""
    clean = tmp_path / "data" / "clean"
    clean.mkdir(parents=True)
    for name in ("train", "val", "test"):
        np.savez(clean / f"{name}.npz", x=np.zeros((3, 28, 28), np.float32), y=np.zeros(3, np.uint8))
    (tmp_path / "data" / "noisy").write_text("not a directory")
    before = listing(tmp_path)
    assert_fails_cleanly(run(["noise.py"], tmp_path), "data/noisy: Not a directory", tmp_path, before)


def test_the_battery_has_at_least_25_cases():
    others = [name for name in globals() if name.startswith("test_") and name not in
              ("test_bad_param", "test_the_battery_has_at_least_25_cases")]
    assert len(PARAM_CASES) + len(others) >= 25
