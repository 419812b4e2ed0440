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


from conftest import ROOT, SAMPLE


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
    ("negative-seed", "base.seed", -1, "prepare", "base.seed must be in [0, 2**32 - 1], got -1"),
    ("zero-code-size", "train.models.dense.code_size", 0, "train",
     "train.models.dense.code_size must be >= 1, got 0"),
    ("negative-learning-rate", "train.learning_rate", -0.1, "noise",
     "train.learning_rate must be null or > 0, got -0.1"),
    ("unknown-optimizer", "train.optimizer", "sgd", "noise", "train.optimizer must be one of"),
    ("zero-steps-per-execution", "train.steps_per_execution", 0, "noise",
     "train.steps_per_execution must be >= 1, got 0"),
    ("unknown-strategy", "train.strategy", "tpu", "noise",
     "train.strategy must be one of ('auto', 'default', 'mirrored')"),
    ("unknown-precision", "train.precision", "float16", "noise", "train.precision must be one of ('float32',"),
    ("unknown-model", "train.models.transformer", {"input": "clean"}, "train",
     "train.models.transformer: unknown model; known models: dense"),
    ("no-models", "train.models", {}, "noise", "train.models must be a non-empty mapping"),
    ("bad-model-input", "train.models.dense.input", "dirty", "train", "train.models.dense.input must be"),
    ("model-block-not-a-mapping", "train.models.vae", [2], "train", "train.models.vae must be a mapping, got list"),
    ("old-module-key", "train.models.dense.module", "dense", "train",
     "train.models.dense.module: unknown key; expected one of ['code_size', 'input']"),
    ("zero-subset", "prepare.train_subset", 0, "prepare", "prepare.train_subset must be null or >= 1, got 0"),
    ("unknown-figure-model", "figures.samples", ["gan"], "figures", "figures.samples: 'gan' is not one of"),
    ("text-robustness-factor", "evaluate.robustness_factors", [0.1, "high"], "evaluate",
     "evaluate.robustness_factors[1] must be float, got 'high'"),
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
    args = [f"{stage}.py", *(["dense"] if stage in ("evaluate", "train") else [])]
    before = listing(tmp_path)
    assert_fails_cleanly(run(args, tmp_path), expected, tmp_path, before)


def test_params_file_that_is_not_yaml(tmp_path):
    (tmp_path / "params.yaml").write_text("train: [epochs: 5\n")
    before = listing(tmp_path)
    assert_fails_cleanly(run(["noise.py"], tmp_path), "params.yaml: not valid YAML", tmp_path, before)


@pytest.mark.parametrize("threads", ["zero", "0", "-2"])
def test_a_bad_thread_cap_is_one_clear_error(tmp_path, raw_params, threads):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    before = listing(tmp_path)
    result = run(["noise.py"], tmp_path, env={"MNIST_AE_THREADS": threads})
    assert_fails_cleanly(result, f"MNIST_AE_THREADS must be a positive integer, got '{threads}'", tmp_path, before)


@pytest.mark.parametrize("text, expected", [("", "params.yaml: empty; expected the sections base, fetch"),
                                            ("- base\n- train\n", "params must be a mapping, got list")],
                         ids=["empty", "list"])
def test_params_file_of_the_wrong_shape(tmp_path, text, expected):
    (tmp_path / "params.yaml").write_text(text)
    assert_fails_cleanly(run(["noise.py"], tmp_path), expected, tmp_path, listing(tmp_path))


def test_missing_params_file(tmp_path):
    assert_fails_cleanly(run(["noise.py"], tmp_path), "params.yaml: file not found", tmp_path, [])


@pytest.mark.parametrize("stage", ["train.py", "evaluate.py"])
def test_unknown_model_on_the_command_line(tmp_path, raw_params, stage):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    before = listing(tmp_path)
    assert_fails_cleanly(run([stage, "bogus"], tmp_path), "unknown model 'bogus'", tmp_path, before)


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


def write_splits(directory, x=None, y=None):
    """data/<variant>/{train,val,test}.npz, each holding ``x`` and ``y`` (default: three blank digits)."""
    x = np.zeros((3, 28, 28), np.float32) if x is None else x
    y = np.zeros(len(x), np.uint8) if y is None else y
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("train", "val", "test"):
        np.savez(directory / f"{name}.npz", x=x, y=y)


def truncate(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


# A damaged data/clean/train.npz, each kind read by the noise stage: (case id, damage, expected error).
INTERMEDIATE_CASES = [
    ("half-written", lambda d: truncate(d / "train.npz"), "data/clean/train.npz: corrupt .npz file"),
    ("not-a-zip", lambda d: (d / "train.npz").write_text("x,y\n"), "data/clean/train.npz: corrupt .npz file"),
    ("wrong-dtype", lambda d: write_splits(d, x=np.zeros((3, 28, 28), np.float64)),
     "data/clean/train.npz: x must be float32 digits of shape (n, 28, 28), got float64 (3, 28, 28)"),
    ("wrong-shape", lambda d: write_splits(d, x=np.zeros((3, 784), np.float32)),
     "data/clean/train.npz: x must be float32 digits of shape (n, 28, 28), got float32 (3, 784)"),
    ("unscaled", lambda d: write_splits(d, x=np.full((3, 28, 28), 255, np.float32)),
     "data/clean/train.npz: x must be scaled to [0, 1], got values in [255, 255]"),
    ("missing-array", lambda d: np.savez(d / "train.npz", images=np.zeros((3, 28, 28), np.float32)),
     "data/clean/train.npz: missing array(s) ['x', 'y']"),
    ("label-count", lambda d: write_splits(d, y=np.zeros(2, np.uint8)),
     "data/clean/train.npz: y must hold 3 integer labels, got uint8 (2,)"),
]


@pytest.mark.parametrize("case, damage, expected", INTERMEDIATE_CASES, ids=[c[0] for c in INTERMEDIATE_CASES])
def test_damaged_intermediate_file(tmp_path, tiny_params, case, damage, expected):
    write_splits(tmp_path / "data" / "clean")
    damage(tmp_path / "data" / "clean")
    before = listing(tmp_path)
    assert_fails_cleanly(run(["noise.py"], tmp_path), expected, tmp_path, before)


def test_mnist_npz_naming_a_missing_file(tmp_path, tiny_params):
    before = listing(tmp_path)
    result = run(["fetch.py"], tmp_path, env={"MNIST_NPZ": str(tmp_path / "nowhere.npz")})
    assert_fails_cleanly(result, f"{tmp_path / 'nowhere.npz'}: file not found", tmp_path, before)


@pytest.fixture(scope="module")
def saved_dense(tmp_path_factory, raw_params):
    """A real, untrained dense model saved as a .keras file."""
    from mnist_ae.config import parse_params
    from mnist_ae.models import block_of, build

    path = tmp_path_factory.mktemp("saved") / "dense.keras"
    build("dense", block_of(parse_params(raw_params).train, "dense"), 0).save(path)
    return path


# (case id, models/dense.keras, models/classifier.keras, model evaluated, expected error)
MODEL_FILE_CASES = [
    ("not-a-zip", b"PK\x03\x04 not really a zip", None, "dense",
     "models/dense.keras: not a Keras model archive (damaged or another kind of file)"),
    ("garbage-classifier", "saved", b"garbage", "dense",
     "models/classifier.keras: not a Keras model archive (damaged or another kind of file)"),
    ("another-models-file", "saved", None, "conv", "models/conv.keras: holds a dense model, not conv; rerun train@conv"),
    ("a-model-as-the-classifier", "saved", None, "dense",
     "models/classifier.keras: holds a dense model, not classifier; rerun classifier"),
]


@pytest.mark.e2e  # a trained model's file in every case
@pytest.mark.parametrize("case, model_bytes, classifier_bytes, name, expected", MODEL_FILE_CASES,
                         ids=[c[0] for c in MODEL_FILE_CASES])
def test_bad_model_file(tmp_path, tiny_params, saved_dense, case, model_bytes, classifier_bytes, name, expected):
    write_splits(tmp_path / "data" / "clean")
    write_splits(tmp_path / "data" / "noisy")
    (tmp_path / "models").mkdir()
    model = saved_dense.read_bytes() if model_bytes == "saved" else model_bytes
    (tmp_path / "models" / f"{name}.keras").write_bytes(model)
    (tmp_path / "models" / "classifier.keras").write_bytes(classifier_bytes or saved_dense.read_bytes())
    before = listing(tmp_path)
    assert_fails_cleanly(run(["evaluate.py", name], tmp_path), expected, tmp_path, before)


def test_corrupt_metrics_file(tmp_path, tiny_params):
    tiny_params["train"]["models"] = {"dense": tiny_params["train"]["models"]["dense"]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "dense.json").write_text('{"test": {"bce_nats": 0.09')
    before = listing(tmp_path)
    assert_fails_cleanly(run(["report.py"], tmp_path), "metrics/dense.json: corrupt JSON", tmp_path, before)


@pytest.mark.parametrize("stage, key", [("train.py", "train.batch_size"), ("classifier.py", "classifier.batch_size")])
def test_batch_larger_than_the_training_set(tmp_path, tiny_params, stage, key):
    write_splits(tmp_path / "data" / "clean")
    before = listing(tmp_path)
    args = [stage, *(["dense"] if stage == "train.py" else [])]
    size = tiny_params[key.split(".")[0]]["batch_size"]
    assert_fails_cleanly(run(args, tmp_path), f"{key} ({size}) is larger than the 3 examples in data/clean/train.npz",
                         tmp_path, before)


def train_dense_at(tmp_path, tiny_params, digits: int, learning_rate: float):
    """train@dense for 3 epochs on the first ``digits`` sample digits; its result and the folder's listing
    before it ran."""
    with np.load(SAMPLE) as sample:
        x = (sample["x_train"][:digits] / 255.0).astype(np.float32)
    write_splits(tmp_path / "data" / "clean", x=x)
    tiny_params["train"].update(learning_rate=learning_rate, epochs=3, batch_size=16)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    before = listing(tmp_path)
    return run(["train.py", "dense"], tmp_path), before


@pytest.mark.e2e  # trains or runs stages: minutes on two busy cores
def test_diverging_training(tmp_path, tiny_params):
    """A huge learning rate makes the loss NaN: one line naming model, epoch and cause; no model, no logs."""
    result, before = train_dense_at(tmp_path, tiny_params, digits=64, learning_rate=1e30)
    assert_fails_cleanly(result,
                         "train@dense: training loss became nan in epoch 1 of 3; training diverged, most likely "
                         "because the learning rate is too high (adam at 1e+30): lower train.learning_rate",
                         tmp_path, before)


@pytest.mark.e2e  # trains or runs stages: minutes on two busy cores
def test_a_ruined_model_is_not_saved(tmp_path, tiny_params):
    """A huge learning rate can leave the loss finite but the model ruined: that is a failure, not a model."""
    result, before = train_dense_at(tmp_path, tiny_params, digits=256, learning_rate=1e6)
    assert_fails_cleanly(result, "train@dense: validation loss ", tmp_path, before)
    last = result.stderr.strip().splitlines()[-1]
    assert "nats/pixel after 3 epochs is worse than ln 2 = 0.693, predicting 0.5 for every pixel; most likely " \
           "because the learning rate is too high (adam at 1e+06)" in last


def test_output_path_that_cannot_be_written(tmp_path, tiny_params):
    """data/noisy exists as a file, so the noise stage cannot put its directory there."""
    clean = tmp_path / "data" / "clean"
    clean.mkdir(parents=True)
    for name in ("train", "val", "test"):
        np.savez(clean / f"{name}.npz", x=np.zeros((3, 28, 28), np.float32), y=np.zeros(3, np.uint8))
    (tmp_path / "data" / "noisy").write_text("not a directory")
    before = listing(tmp_path)
    assert_fails_cleanly(run(["noise.py"], tmp_path), "data/noisy: Not a directory", tmp_path, before)


@pytest.mark.e2e  # a second pytest that imports TensorFlow to collect this module
def test_the_battery_has_at_least_25_cases():
    """Counted from a collection of this module alone, whatever selection this run has."""
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             "-p", "no:randomly", __file__], cwd=ROOT, capture_output=True, text=True).stdout
    cases = [line for line in listed.splitlines() if "::test_" in line
             and "::test_the_battery_has" not in line and "::test_bad_param_fails_before_tensorflow" not in line]
    assert len(cases) >= 25, listed[-2000:]


STAGES_READING_PARAMS = ["fetch.py", "prepare.py", "noise.py", "train.py dense", "baselines.py", "classifier.py",
                         "evaluate.py dense", "figures.py", "report.py"]

# Runs a stage as `python stages/<x>.py` would, then reports whether TensorFlow was imported.
PROBE = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print("tensorflow imported:", "tensorflow" in sys.modules, flush=True)
"""


@pytest.mark.e2e  # a stage process per case
@pytest.mark.parametrize("stage", STAGES_READING_PARAMS)
def test_bad_param_fails_before_tensorflow(tmp_path, raw_params, stage):
    """Every stage validates params.yaml before TensorFlow starts, so a typo costs well under 2 s."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_with(raw_params, "train.epoch", 5)))
    script, *args = stage.split()
    result = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "stages" / script), *args], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: train.epoch: unknown key")
    assert "tensorflow imported: False" in result.stdout
