import os
import subprocess
import sys

import pytest
import yaml

from mnist_ae import ConfigError
from mnist_ae.config import load_params, parse_params, select_figures
from mnist_ae.models import MODELS, block_of, module, source, typed_blocks

from conftest import ROOT


def test_committed_params_are_valid(params_dict):
    params = parse_params(params_dict)
    assert set(params.train.models) == set(MODELS)
    assert block_of(params.train, "denoise").input == "noisy"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("noise", "factor"), -0.5, r"noise\.factor must be >= 0"),
        (("prepare", "val_fraction"), 1.0, r"prepare\.val_fraction must be in \(0, 1\)"),
        (("prepare", "val_fraction"), 0, r"prepare\.val_fraction must be in \(0, 1\)"),
        (("train", "epochs"), 0, r"train\.epochs must be >= 1"),
        (("train", "epochs"), "ten", r"train\.epochs must be int"),
        (("train", "epochs"), True, r"train\.epochs must be int"),
        (("train", "epochs"), 2.5, r"train\.epochs must be int"),
        (("train", "optimizer"), "sgd", r"train\.optimizer must be one of"),
        (("train", "models", "dense", "code_size"), "32", r"train\.models\.dense\.code_size must be int"),
        (("train", "models", "denoise", "input"), "blurry", r"train\.models\.denoise\.input must be one of"),
        (("evaluate", "robustness_factors"), [0.1, -1], r"evaluate\.robustness_factors must be"),
        (("prepare", "train_subset"), 0, r"prepare\.train_subset must be null or >= 1"),
        (("base", "seed"), 2**32, r"base\.seed must be in \[0, 2\*\*32 - 1\]"),
    ],
)
def test_bad_values_name_their_key(params_dict, path, value, message):
    node = params_dict
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=message):
        typed_blocks(parse_params(params_dict).train)  # the model blocks are typed by the registry


def test_unknown_model_lists_the_known_ones(params_dict):
    params_dict["train"]["models"]["transformer"] = {"input": "clean"}
    params = parse_params(params_dict)  # which models exist is the registry's to say
    with pytest.raises(ConfigError, match=r"train\.models\.transformer: unknown model; known models: dense"):
        typed_blocks(params.train)


def test_unknown_key_is_an_error(params_dict):
    params_dict["train"]["epoch"] = 5
    with pytest.raises(ConfigError, match=r"train\.epoch: unknown key"):
        parse_params(params_dict)


def test_missing_key_is_an_error(params_dict):
    del params_dict["base"]["seed"]
    with pytest.raises(ConfigError, match=r"base\.seed: missing key"):
        parse_params(params_dict)


def test_figures_may_only_name_registered_models(params_dict):
    params_dict["figures"]["samples"] = ["dense", "gan"]
    with pytest.raises(ConfigError, match=r"figures\.samples: 'gan' is not one of \['dense'"):
        select_figures(parse_params(params_dict).figures, MODELS, MODELS)


def test_a_model_can_be_dropped_from_training_alone(params_dict):
    """`dvc exp run -S '~train.models.vae'` must not also need the figure lists edited."""
    del params_dict["train"]["models"]["vae"]
    params = parse_params(params_dict)
    assert "vae" not in params.train.models and params.figures.manifold_model == "vae"


def run_stage(args, cwd, env=None):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env=None if env is None else {**os.environ, **env})


def test_stage_with_unknown_model_fails_with_one_line(tmp_path):
    result = run_stage([str(ROOT / "stages" / "train.py"), "bogus"], cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: unknown model 'bogus'; known models: dense, sparse, deep, conv, denoise, vae")
    assert "Traceback" not in result.stderr


def test_debug_flag_shows_the_traceback():
    result = run_stage([str(ROOT / "stages" / "train.py"), "bogus"], cwd=ROOT, env={"MNIST_AE_DEBUG": "1"})
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "unknown model 'bogus'" in result.stderr


def test_stage_with_bad_param_fails_before_touching_outputs(tmp_path, params_dict):
    params_dict["noise"]["factor"] = -1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_dict))
    result = run_stage([str(ROOT / "stages" / "noise.py")], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "error: noise.factor must be >= 0, got -1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_dvc_overrides_drop_and_add_back_a_model(tmp_path):
    """The README's `-S '~train.models.sparse'` and `-S '+train.models.sparse={...}'`, as DVC applies them."""
    from dvc.utils.hydra import apply_overrides

    params_file = tmp_path / "params.yaml"
    params_file.write_text((ROOT / "params.yaml").read_text())
    apply_overrides(str(params_file), ["~train.models.sparse"])
    assert "sparse" not in load_params(params_file).train.models
    apply_overrides(str(params_file), ["+train.models.sparse={input: clean, code_size: 32, l1: 1e-4}"])
    assert block_of(load_params(params_file).train, "sparse") == block_of(load_params(ROOT / "params.yaml").train, "sparse")


def test_the_typed_params_record_what_a_stage_reads(monkeypatch):
    """Validation reads every key but records none; afterwards each field read is recorded by its dotted key."""
    import dataclasses

    from mnist_ae import typed_params as config

    monkeypatch.setattr(config, "_read", None)
    params = load_params(ROOT / "params.yaml")
    assert config.read_keys() == set()
    params.noise.factor
    typed_blocks(params.train)["vae"].latent_dim
    assert config.read_keys() == {"noise.factor", "train.models.vae.latent_dim"}
    assert "conv" in params.train.models and config.read_keys() >= {"train.models.conv"}
    assert "train.models" not in config.read_keys()  # one model's block is not the list of models
    list(params.train.models)
    assert "train.models" in config.read_keys()
    dataclasses.replace(params.figures, n_digits=3).manifold_size  # a copy keeps recording
    assert {"figures.manifold_size", "figures.samples"} <= config.read_keys()


def test_each_model_is_built_by_its_own_module(raw_params):
    """dvc.yaml declares src/mnist_ae/models/<name>.py as the code of train@<name> and evaluate@<name>."""
    for name in raw_params["train"]["models"]:
        assert source(name).is_file(), name
        assert callable(module(name).build), name
