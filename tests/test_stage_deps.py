"""Every stage declares exactly the code it runs and the params it reads, so the cache never lies.

The stages come from DVC itself (every ``foreach`` instance included). What each one imports and
reads comes from the tiny pipeline run: under ``MNIST_AE_RECORD_DEPS`` each stage writes the project
files in its ``sys.modules`` and the params keys the typed config saw it read.
"""

import json
from pathlib import Path

import pytest
import yaml

from mnist_ae.dotted import get
from tools.docs.deps import CODE_ROOTS, EXEMPT_FILES, StageDecl, covers, covers_key, declared_stages, leaf_keys
from tools.docs.facts import block_in
from tools.docs.reruns import reruns_table, stages_table

from conftest import ROOT, stage_records_of, table_rows


def code_problems(stage: StageDecl, imported: list[str], root: Path) -> list[str]:
    """Imported project files no dep covers, and declared code no import uses; each names the stage."""
    problems = []
    for path in imported:
        if path not in EXEMPT_FILES and not any(covers(dep, path) for dep in stage.deps):
            problems.append(f"{stage.name}: imports {path}, which none of its deps covers")
    for dep in stage.deps:
        if not dep.startswith(CODE_ROOTS):
            continue
        target = root / dep
        sources = sorted(p.relative_to(root).as_posix() for p in target.rglob("*.py")) if target.is_dir() else [dep]
        for source in sources:
            if source not in imported:
                problems.append(f"{stage.name}: declares {source}, which it never imports")
    return problems


def params_problems(stage: StageDecl, read: list[str], params: dict) -> list[str]:
    """Params read but not declared, and declared params not read in full.

    A declared section covers all of its keys, so all of them must be read; ``train.models`` read as
    a whole (which models there are) is satisfied by declaring ``train.models``.
    """
    problems = []
    read_set = set(read)
    for key in sorted(read_set):
        if not any(covers_key(declared, key) for declared in stage.params):
            problems.append(f"{stage.name}: reads param {key}, which its params: do not declare")
    for declared in stage.params:
        if declared in read_set:
            continue
        try:
            unread = sorted(leaf_keys(get(params, declared), declared) - read_set)
        except KeyError:
            problems.append(f"{stage.name}: declares param {declared}, which params.yaml does not have")
            continue
        if unread:
            problems.append(f"{stage.name}: declares param {declared} but never reads {', '.join(unread)}")
    return problems


def stage_names() -> list[str]:
    """The stage names, from dvc.yaml and params.yaml as plain YAML: collecting the suite must not open a
    DVC repository in the checkout (that writes .dvc/tmp)."""
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    models = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["models"]
    return [f"{name}@{model}" if "foreach" in body else name for name, body in pipeline.items()
            for model in (models if "foreach" in body else [None])]


STAGE_NAMES = stage_names()


@pytest.fixture(scope="module")
def stages(tiny_repo) -> dict[str, StageDecl]:
    """Every stage as DVC resolves it, in the tiny run's copy (not this checkout)."""
    workdir, _ = tiny_repo
    return {stage.name: stage for stage in declared_stages(workdir)}


@pytest.fixture(scope="module")
def records(tiny_repo):
    workdir, _ = tiny_repo
    folder = stage_records_of(workdir)
    found = {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}
    return workdir, found


@pytest.mark.e2e
def test_every_stage_of_the_pipeline_was_recorded(records, stages):
    _, found = records
    assert set(stages) == set(STAGE_NAMES) and set(stages) <= set(found)
    assert len(stages) == 19  # fetch, prepare, noise, 6 train, baselines, classifier, 6 evaluate, figures, report


@pytest.mark.e2e
@pytest.mark.parametrize("name", STAGE_NAMES)
def test_code_deps_are_exactly_the_files_the_stage_imports(records, stages, name):
    workdir, found = records
    stage, record = stages[name], found[name]
    assert stage.cmd == "python " + " ".join(record["argv"])
    assert code_problems(stage, record["files"], workdir) == []


@pytest.mark.e2e
@pytest.mark.parametrize("name", STAGE_NAMES)
def test_declared_params_are_exactly_the_keys_the_stage_reads(records, stages, name):
    workdir, found = records
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    assert params_problems(stages[name], found[name]["params"], params) == []


def test_exempt_files_exist_and_say_why():
    for path, reason in EXEMPT_FILES.items():
        assert (ROOT / path).is_file(), path
        assert len(reason.split()) >= 4, path


# The checker itself, on made-up stages: each kind of mistake is caught and names stage and file.
EVALUATE = StageDecl("evaluate@vae", "python stages/evaluate.py vae",
                     ("stages/evaluate.py", "src/mnist_ae/models/vae.py", "data/clean"), ("base.seed", "evaluate"))
PARAMS = {"base": {"seed": 1}, "evaluate": {"knn_neighbors": 5, "robustness_factors": [0.1, 0.2]},
          "train": {"models": {"vae": {"hidden": 8}}}}


def test_an_undeclared_import_is_named():
    imported = ["stages/evaluate.py", "src/mnist_ae/models/vae.py", "src/mnist_ae/training.py",
                "src/mnist_ae/stage.py"]
    assert code_problems(EVALUATE, imported, ROOT) == [
        "evaluate@vae: imports src/mnist_ae/training.py, which none of its deps covers"]


def test_a_declared_file_never_imported_is_named():
    assert code_problems(EVALUATE, ["stages/evaluate.py"], ROOT) == [
        "evaluate@vae: declares src/mnist_ae/models/vae.py, which it never imports"]


def test_a_declared_folder_covers_its_files_and_needs_all_of_them_imported():
    figures = StageDecl("figures", "python stages/figures.py", ("src/mnist_ae/models",), ())
    every_model_file = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "src/mnist_ae/models").glob("*.py"))
    assert code_problems(figures, every_model_file, ROOT) == []
    problems = code_problems(figures, every_model_file[1:], ROOT)
    assert problems == [f"figures: declares {every_model_file[0]}, which it never imports"]


def test_params_read_must_equal_those_declared():
    read = ["base.seed", "evaluate.knn_neighbors", "evaluate.robustness_factors"]
    assert params_problems(EVALUATE, read, PARAMS) == []
    assert params_problems(EVALUATE, [*read, "train.models.vae.hidden"], PARAMS) == [
        "evaluate@vae: reads param train.models.vae.hidden, which its params: do not declare"]
    assert params_problems(EVALUATE, read[:2], PARAMS) == [
        "evaluate@vae: declares param evaluate but never reads evaluate.robustness_factors"]


def test_reading_which_models_exist_is_covered_only_by_the_whole_section():
    report = StageDecl("report", "python stages/report.py", (), ("train.models",))
    assert params_problems(report, ["train.models"], PARAMS) == []
    narrower = StageDecl("report", "python stages/report.py", (), ("train.models.vae",))
    assert params_problems(narrower, ["train.models"], PARAMS) == [
        "report: reads param train.models, which its params: do not declare",
        "report: declares param train.models.vae but never reads train.models.vae.hidden"]


def test_the_reruns_page_is_generated_from_dvc_yaml():
    """docs/reruns.md is never typed by hand: `make docs` regenerates it."""
    assert block_in((ROOT / "docs" / "reruns.md").read_text(), "reruns") == reruns_table(ROOT), "run `make docs`"
    rows = table_rows(reruns_table(ROOT))
    assert ("`src/mnist_ae/models/vae.py`", "`train@vae`, `evaluate@vae`, `figures`", "`report`") in rows
    assert ("`src/mnist_ae/noise.py`", "`noise`, `baselines`, `evaluate@*`, `figures`",
            "`train@denoise`, `report`") in rows


def test_the_pipeline_pages_table_of_stages_is_generated_from_dvc_yaml():
    page = ROOT / "docs" / "pipeline.md"
    assert block_in(page.read_text(), "stages") == stages_table(ROOT), "run `make docs`"
    assert [row[:2] for row in table_rows(stages_table(ROOT)) if row[0] == "`train@vae`"] == \
        [("`train@vae`", "`python stages/train.py vae`")]


def test_bytecode_never_enters_a_directory_deps_hash():
    """figures depends on src/mnist_ae/models as a folder: a __pycache__ that an import left there must not
    change its hash, or a clone without one would see the stage as stale (it did, in CI at 0637cc2)."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        assert repo.dvcignore.is_ignored_dir(str(ROOT / "src" / "mnist_ae" / "models" / "__pycache__"))
        assert not repo.dvcignore.is_ignored_dir(str(ROOT / "src" / "mnist_ae" / "models"))
