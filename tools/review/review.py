"""A pull-request review of the committed results: what changed between a base revision and here.

``python -m tools.review.review --base main`` (``make review BASE=main``) writes ``report.md`` with

- the params that changed (``dvc params diff --md``);
- every key metric of the catalogue for base and head (from ``dvc metrics diff --json``), with the
  change and a verdict (tools/review/verdicts.py: direction, run-to-run noise, a changed noise factor);
- the curve charts of both revisions as PNGs (tools/review/charts.py), so a comment without JavaScript shows them;
- every figure under plots/figures that changed, base and head side by side;
- the path of the ``dvc plots diff`` HTML, and ``dvc metrics diff --md`` folded away.

It reads committed files only (DVC and git for the base, the working tree for the head), so it
needs no DVC remote and no training. The rules come from the base: σ is the base's committed seed
spread, so a pull request that widens it, or deletes it, judges itself by the old one (the review
says when it changes the record). ``--fail-on-worse`` fails closed (tools/review/verdicts.py: gate_failures). It first checks that the head's results are current (``make check``):
a review of stale results would report "same" for a change nobody reran. ``--allow-stale`` writes a
draft anyway, with the stale stages named at its top.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from mnist_ae import StudyError
from mnist_ae.config import PARAMS_FILE
from mnist_ae.files import atomic_dir, atomic_path
from mnist_ae.paths import FIGURES_DIR, SEED_SPREAD
from tools import dvc_cli
from tools.review.charts import NoRenderer, charts_section, render_charts
from tools.sharing.check import RERUN_HINT, check_current, describe, stale_stages
from mnist_ae.dotted import flatten
from tools.review.verdicts import (compare, gate_failures, key_metrics_from_diff, metrics_table, noisy_input_metrics,
                            spread_note, tally, unusable_spread)

NOISE_PARAM = "noise.factor"  # the noise of the noisy test digits; a new value makes gain_db a new test


class Revisions:
    """The figures of both sides: committed files at ``base`` through git, head files from the working tree."""

    def __init__(self, root: Path, base: str):
        self.root = root
        if base.startswith("-"):
            raise StudyError(f"base revision {base!r}: a git revision, not an option")
        try:
            self.base_sha = self.git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").strip()
        except subprocess.CalledProcessError:
            raise StudyError(f"base revision '{base}' not found in the git repository at {root}") from None

    def git(self, *args: str, binary: bool = False):
        return dvc_cli.git(self.root, *args, binary=binary)

    def short(self, rev: str) -> str:
        return self.git("rev-parse", "--short", rev).strip()

    def base_file(self, path: Path) -> bytes | None:
        try:
            return self.git("show", f"{self.base_sha}:{path.as_posix()}", binary=True)
        except subprocess.CalledProcessError:
            return None

    def head_file(self, path: Path) -> bytes | None:
        file = self.root / path
        return file.read_bytes() if file.is_file() else None

    def base_names(self, folder: Path, suffix: str) -> list[str]:
        listed = self.git("ls-tree", "--name-only", self.base_sha, f"{folder.as_posix()}/")
        return sorted(Path(p).name for p in listed.splitlines() if p.endswith(suffix))

    def head_names(self, folder: Path, suffix: str) -> list[str]:
        folder = self.root / folder
        return sorted(p.name for p in folder.glob(f"*{suffix}")) if folder.is_dir() else []


def changed_figures(revs: Revisions, assets: Path, link_prefix: str) -> str:
    """Copy every changed figure from both sides into ``assets`` and lay them out side by side."""
    names = sorted(set(revs.base_names(FIGURES_DIR, ".png")) | set(revs.head_names(FIGURES_DIR, ".png")))
    rows = []
    for name in names:
        base, head = revs.base_file(FIGURES_DIR / name), revs.head_file(FIGURES_DIR / name)
        if base == head:
            continue
        cells = []
        for side, data in (("base", base), ("head", head)):
            if data is None:
                cells.append("(none)")
                continue
            (assets / side).mkdir(parents=True, exist_ok=True)
            (assets / side / name).write_bytes(data)
            cells.append(f"![{side} {name}]({link_prefix}/{side}/{name})")
        rows.append({"figure": f"`{name}`", "base": cells[0], "head": cells[1]})
    if not rows:
        return f"No figure under `{FIGURES_DIR}` changed.\n"
    table = pd.DataFrame(rows).to_markdown(index=False)
    return f"{len(rows)} changed, {len(names) - len(rows)} unchanged.\n\n{table}\n"


def staleness_note(root: Path, allow_stale: bool) -> str:
    """Nothing when the head's results are current; otherwise an error, or with ``allow_stale`` a warning."""
    if not allow_stale:
        check_current(root, f"{RERUN_HINT}, or pass --allow-stale for a draft review")
        return ""
    stale = stale_stages(root)
    if not stale:
        return ""
    return (f"> **Draft: stale results.** {describe(stale)}; their numbers may not be what this code and "
            f"these params produce.\n")


def overlay_titles(root: Path) -> set[str]:
    """The titled charts of dvc.yaml's top-level plots, which overlay every model; the per-file charts
    of the stages' own plot outputs are left to the HTML page."""
    plots = yaml.safe_load((root / "dvc.yaml").read_text()).get("plots") or []
    return {title for entry in plots if isinstance(entry, dict) for title in entry}


def dvc_json(root: Path, *args: str) -> dict:
    return json.loads(dvc_cli.output(root, *args, "--json") or "{}")


def write_review(root: Path, base: str, out: Path, allow_stale: bool = False,
                 note: str = "") -> tuple[Path, str, list[str]]:
    """Write the review to ``out`` and its figures and plots HTML next to it, in ``<stem>_files/``, ``note``
    under its title; return ``out``, a one-line tally of the verdicts and one line per gate failure
    (gate_failures)."""
    warning = staleness_note(root, allow_stale)
    revs = Revisions(root, base)
    base_short, head_short = revs.short(revs.base_sha), revs.short("HEAD")
    dirty = bool(revs.git("status", "--porcelain", "--untracked-files=no").strip())
    head_label = head_short + ("+" if dirty else "")

    params_diff = dvc_json(root, "params", "diff", revs.base_sha)
    noise_change = params_diff.get("params.yaml", {}).get(NOISE_PARAM)
    metrics_diff = dvc_json(root, "metrics", "diff", revs.base_sha, "--all")
    base_record, head_record = revs.base_file(SEED_SPREAD), revs.head_file(SEED_SPREAD)
    base_spread = json.loads(base_record) if base_record is not None else None
    base_params = flatten(yaml.safe_load(revs.base_file(PARAMS_FILE) or b"{}") or {})
    spread, verdict_basis = spread_note(base_spread, base_params)
    if head_record != base_record:
        verdict_basis += (f" **This pull request {'deletes' if head_record is None else 'changes'} "
                          f"`{SEED_SPREAD}`**; the verdicts use the base's record, not the head's.")
    changes = compare(*key_metrics_from_diff(metrics_diff), noise_changed=noise_change is not None, spread=spread)
    # DVC's own tables, labelled with the short names: the base's, and "workspace" for the head.
    params_md = (dvc_cli.output(root, "params", "diff", base_short, "--md") if any(params_diff.values())
                 else "No param changed.")
    moved = any(c.get("old") != c.get("new") for entries in metrics_diff.values() for c in entries.values())
    full_metrics = dvc_cli.output(root, "metrics", "diff", base_short, "--md") if moved else "No metric changed."
    assets_name = f"{out.stem}_files"
    with atomic_dir(out.parent / assets_name) as assets:
        figures_section = changed_figures(revs, assets, assets_name)
        # The short name is what the charts' revision legends show.
        dvc_cli.output(root, "plots", "diff", base_short, "-o", str(assets / "plots"))
        try:
            charts = render_charts(dvc_json(root, "plots", "diff", base_short), assets / "charts", overlay_titles(root))
            curves_section = charts_section([(title, f"{assets_name}/{path.relative_to(assets).as_posix()}")
                                             for title, path in charts], f"`{base_short}` and `{head_label}`")
        except NoRenderer as missing:
            curves_section = f"{missing}.\n"


    noise_note = ""
    if noise_change is not None:
        noise_note = (f" `{NOISE_PARAM}` changed from {noise_change.get('old')} to {noise_change.get('new')}, so "
                      + ", ".join(f"`{m}`" for m in noisy_input_metrics())
                      + " compares digits noised differently: the verdict says how the number moved, not that "
                        "the model got better or worse.")
    base_label = f"`{base}`" + ("" if base == base_short else f" (`{base_short}`)")
    text = "\n".join([
        f"# Results review: {base_label} → `{head_short}`" + (" plus uncommitted changes" if dirty else ""),
        "",
        *([warning] if warning else []),
        *([note] if note else []),
        "## Params",
        "",
        params_md + "\n",
        "## Key metrics",
        "",
        f"{tally(changes)}.",
        "",
        verdict_basis + noise_note,
        "",
        metrics_table(changes),
        "## Curves",
        "",
        curves_section,
        "## Changed figures",
        "",
        figures_section,
        "## Interactive plots",
        "",
        f"`dvc plots diff {base}` rendered every curve of both revisions into "
        f"[`{assets_name}/plots/index.html`]({assets_name}/plots/index.html), which opens offline.",
        "",
        "<details><summary>Every metric: <code>dvc metrics diff</code></summary>",
        "",
        full_metrics,
        "",
        "</details>",
        "",
    ])
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    with atomic_path(summary_path(out)) as tmp:
        tmp.write_text(job_summary(text, assets_name))
    failures = gate_failures(changes, unusable_spread(base_spread, base_params))
    return out, f"key metrics against {base_label.replace('`', '')}: {tally(changes)}", failures


ARTIFACT = "results-review"  # .github/workflows/pr-review.yml uploads the review and its files under this name


def summary_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}_summary.md")


def job_summary(text: str, assets_name: str) -> str:
    """The review for a CI job summary, which shows no file of the run: every link into ``assets_name``
    becomes its path in the uploaded artifact, so nothing renders as a broken image."""
    pattern = re.compile(r"!?\[([^\]]*)\]\((" + re.escape(assets_name) + r"/[^)]*)\)")
    body = pattern.sub(lambda match: f"`{match.group(2)}`", text)
    return (f"> Figures, charts and the interactive plots are in this run's `{ARTIFACT}` artifact "
            f"(Summary → Artifacts), under the paths named below.\n\n{body}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="main", help="git revision to compare against (default: main)")
    parser.add_argument("--out", type=Path, default=Path("report.md"), help="where to write (default: report.md)")
    parser.add_argument("--head", type=Path, default=Path.cwd(), help="the checkout reviewed (default: here)")
    parser.add_argument("--allow-stale", action="store_true",
                        help="review even if the committed results do not match dvc.lock (a draft)")
    parser.add_argument("--fail-on-worse", action="store_true",
                        help="exit 1 when a key metric is worse beyond 2 σ of the base's seed spread, or cannot be "
                             "judged, naming each (the review is written first)")
    args = parser.parse_args(argv)
    out, summary, failures = write_review(args.head.resolve(), args.base, args.out, args.allow_stale)
    print(summary)
    print(f"wrote {out}, {summary_path(out)} and {out.parent / (out.stem + '_files')}/")
    if args.fail_on_worse and failures:
        print("\n".join(failures), file=sys.stderr)
        worse = sum(line.startswith("worse: ") for line in failures)
        parts = [f"{worse} key metric(s) worse than {args.base} beyond the seed noise"] if worse else []
        if len(failures) > worse:
            parts.append(f"{len(failures) - worse} the gate cannot judge against {args.base}")
        raise StudyError(f"{'; '.join(parts)}; see {out}")


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
