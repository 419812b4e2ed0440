"""A new model touches exactly the places docs/adding-a-model.md lists; forgetting one fails here.

Each place is (the file, what it must hold for every registered model). The page must name every
file, so the docs and this test cannot drift apart.
"""

import re

import pytest
import yaml

from mnist_ae.models import MODELS, ModelParams, module, source

from conftest import ROOT
from test_models import EXPECTED_CODE, EXPECTED_PARAMS

PAGE = ROOT / "docs" / "adding-a-model.md"


def registered():
    """Models with a line in MODELS, each with a params class of its own."""
    return {name for name, spec in MODELS.items() if issubclass(spec.params, ModelParams)
            and spec.params is not ModelParams}


def builders_exist():
    return {name for name in MODELS if source(name).is_file() and callable(getattr(module(name), "build", None))}


def params_blocks():
    models = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["models"]
    return {name for name in models if name in MODELS}


def overlay_plots_and_artifact():
    """Models whose validation and training curves and robustness curve all appear in dvc.yaml's plots,
    and which its artifacts section names as a model (`dvc artifacts get <repo> <name>`)."""
    text = (ROOT / "dvc.yaml").read_text()
    artifacts = yaml.safe_load(text).get("artifacts") or {}
    return {name for name in MODELS
            if all(f"{path}" in text for path in (f"plots/train/{name}/plots/metrics/eval/bce.tsv",
                                                  f"plots/train/{name}/plots/metrics/train/bce.tsv",
                                                  f"plots/robustness/{name}.csv"))
            and artifacts.get(name, {}).get("path") == f"models/{name}.keras"
            and artifacts[name].get("type") == "model" and artifacts[name].get("desc")}


def model_expectations():
    return set(EXPECTED_PARAMS) & set(EXPECTED_CODE)


PLACES = {
    "src/mnist_ae/models/<name>.py": builders_exist,               # its module, with build(params, seed)
    "src/mnist_ae/models/__init__.py": registered,                 # its params class and its line in MODELS
    "params.yaml": params_blocks,                                  # its block under train.models
    "dvc.yaml": overlay_plots_and_artifact,                        # its curves in the overlay plots, its artifact line
    "tests/test_models.py": model_expectations,                    # parameter count and code shape
}


@pytest.mark.parametrize("place", PLACES)
def test_every_registered_model_is_in_each_place(place):
    found = PLACES[place]()
    assert found == registered(), f"{place}: missing {sorted(registered() - found)}, extra {sorted(found - registered())}"


def test_the_artifacts_are_the_registered_models_and_the_classifier():
    artifacts = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    assert set(artifacts) == {*MODELS, "classifier"}
    assert artifacts["classifier"]["path"] == "models/classifier.keras"


def test_a_new_model_touches_at_most_five_places():
    assert len(PLACES) <= 5


def test_the_docs_page_lists_exactly_these_places():
    page = PAGE.read_text()
    named = set(re.findall(r"^\d+\. `([^`]+)`", page, re.MULTILINE))
    assert named == set(PLACES), f"docs/adding-a-model.md's numbered list names {sorted(named)}"
