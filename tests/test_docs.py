"""Every number quoted in README.md and docs/ is what its committed source gives (make docs)."""

import pytest

from mnist_ae import StudyError
from tools.docs import facts

from conftest import ROOT, assert_each_command_is_tested


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


def test_the_benchmarks_tables_are_what_its_record_gives():
    """benchmarks/bench.md, which docs/performance.md links, renders the committed bench.json (make bench writes
    both)."""
    import json

    from benchmarks.tables import markdown

    record = json.loads((ROOT / "benchmarks" / "bench.json").read_text())
    assert (ROOT / "benchmarks" / "bench.md").read_text() == markdown(record), "rerun make bench"


def test_the_committed_canonical_benchmark_ran_on_the_current_pipeline_code():
    """docs/performance.md quotes benchmarks/bench.json's canonical run with its commit: the pipeline's code
    (src/, stages/, dvc.yaml, params.yaml) at HEAD must be the code that ran, on a clean tree. Compared by
    content, so a merge or a revert that leaves the code as it was does not make the figures stale."""
    import json
    import subprocess

    from benchmarks.timing import CODE_PATHS

    run = json.loads((ROOT / "benchmarks" / "bench.json").read_text())["canonical_pipeline"].get("run")
    assert run, "benchmarks/bench.json records no commit for its canonical run: make bench WHAT=canonical"
    changed = subprocess.run(["git", "diff", "--name-only", run["commit"], "HEAD", "--", *CODE_PATHS], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert not changed and run["code_changes"] == [], (
        f"the canonical benchmark ran on {run['commit'][:7]}; the pipeline's code has changed since "
        f"({', '.join(changed or run['code_changes'])}): rerun make bench WHAT=canonical")


# Each command of docs/sharing.md's "For teams" walk-through, the test file that runs it, and what in
# that file runs it (make targets: the module test_workflow.py checks they expand to).
TEAM_COMMANDS = {
    "dvc remote add -d team s3://": ("test_sharing_s3.py", '"remote", "add", "--local", "--default", "team", S3_URL'),
    "make push": ("test_sharing_s3.py", 'remote_tool(alice, "push", **s3["env"])'),
    "make pull": ("test_sharing_s3.py", 'remote_tool(lena, "pull", **s3["env"])'),
    "make exp-run SET=": ("test_sharing_s3.py", 'remote_tool(mona, "exp-run", "-S", override, **s3["env"])'),
    "make check REMOTE=1": ("test_sharing_s3.py", '"Every output in dvc.lock is on the team\'s DVC remote"'),
    "make gate BASE=origin/main": ("test_sharing.py", "tools.review.gate"),
    "make slurm-sweep GRID=": ("test_grid.py", '"slurm-sweep", f"GRID={sweep.grid}"'),
    "dvc exp pull origin": ("test_grid.py", '"exp", "pull", "origin"'),
    "make experiments GRID=": ("test_grid.py", '"tools.sweeps.exp_table", "--grid"'),
}


def test_every_command_of_the_team_walk_through_is_one_the_tests_run():
    import re

    section = (ROOT / "docs" / "sharing.md").read_text().split("## For teams", 1)[1]
    commands = [line.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
                for line in block.splitlines() if line.strip()]
    assert len(commands) == len(TEAM_COMMANDS), commands
    assert_each_command_is_tested(commands, TEAM_COMMANDS, "docs/sharing.md's For teams")


def test_the_scaling_page_quotes_the_jobs_log_tail():
    from tools.sweeps.grid_job import LOG_TAIL

    assert f"the last {LOG_TAIL} lines of its log" in (ROOT / "docs" / "scaling.md").read_text()


def test_every_generated_region_uses_the_one_block_syntax():
    """One syntax, one command (make docs): no page keeps the old `<!-- name:start -->` markers."""
    import re

    for page in facts.pages(ROOT):
        text = page.read_text()
        assert not re.search(r"<!-- *[\w-]+:(start|end) *-->", text), page
        assert text.count("<!--block:") == text.count("<!--/block-->"), page
    names = [m["name"] for page in facts.pages(ROOT) for m in facts.BLOCK.finditer(page.read_text())]
    assert {"results", "uncertainty", "reruns", "stages"} <= set(names) and set(names) <= set(facts.BLOCKS)
