"""Every number quoted in README.md and docs/ is what its committed source gives (make docs)."""

import pytest

from mnist_ae import StudyError
from tools import facts

from conftest import ROOT


@pytest.mark.parametrize("page", [page.relative_to(ROOT).as_posix() for page in facts.pages(ROOT)])
def test_quoted_numbers_are_current(committed, page):
    """In the committed tree: a rerun on another CPU changes this checkout's results, not its docs."""
    text = (committed / page).read_text()
    assert facts.render(committed, text) == text, f"{page} is stale: run make docs"


def test_prose_leaves_numbers_to_tables_and_files():
    """A handful of inline facts at most: the docs link to committed files and generated tables instead."""
    quoted = {page.relative_to(ROOT).as_posix(): len(facts.FACT.findall(page.read_text())) for page in facts.pages(ROOT)}
    assert sum(quoted.values()) < 15, quoted
    assert quoted["README.md"] == 0, "the README quotes no number of its own; its results table is generated"


def test_facts_read_their_sources():
    assert facts.fact(ROOT, "params:train.epochs") == "50"
    assert facts.fact(ROOT, "params:prepare.val_fraction|.2f") == "0.30"
    assert facts.fact(ROOT, "metric_raw:vae.elbo.iwae_samples") == "100"
    assert facts.fact(ROOT, "stages") == "19"


@pytest.mark.parametrize("name, message", [
    ("metric_raw:dense.no_such_metric", "metrics/dense.json has no no_such_metric"),
    ("params:train.no_such_key", "params.yaml has no train.no_such_key"),
    ("bench:no_such_section", "bench.json has no no_such_section"),
    ("nonsense", "unknown fact 'nonsense'"),
])
def test_a_bad_fact_name_is_one_clear_error(name, message):
    with pytest.raises(StudyError, match=message):
        facts.fact(ROOT, name)


def test_the_committed_canonical_benchmark_ran_on_the_current_pipeline_code():
    """docs/performance.md quotes benchmarks/bench.json's canonical run with its commit: the pipeline's code
    (src/, stages/, dvc.yaml, params.yaml) at HEAD must be the code that ran, on a clean tree. Compared by
    content, so a merge or a revert that leaves the code as it was does not make the figures stale."""
    import json
    import subprocess
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from timing import CODE_PATHS

    run = json.loads((ROOT / "benchmarks" / "bench.json").read_text())["canonical_pipeline"].get("run")
    assert run, "benchmarks/bench.json records no commit for its canonical run: make bench WHAT=canonical"
    changed = subprocess.run(["git", "diff", "--name-only", run["commit"], "HEAD", "--", *CODE_PATHS], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert not changed and run["code_changes"] == [], (
        f"the canonical benchmark ran on {run['commit'][:7]}; the pipeline's code has changed since "
        f"({', '.join(changed or run['code_changes'])}): rerun make bench WHAT=canonical")
