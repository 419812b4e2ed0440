"""A pull-request review of the committed results: what changed between a base revision and here.

``python -m mnist_ae.tools.review --base main`` (``make review BASE=main``) writes ``report.md`` with

- the ``dvc params diff`` against the base;
- every key metric (reports/summary.json's names) for base and head, the change, the percent
  change and a verdict that knows which direction is better, which changes are within run-to-run
  noise, and which metrics were measured at a different noise factor;
- every figure under plots/figures that changed, base and head side by side;
- the path of the ``dvc plots diff`` HTML, and the full ``dvc metrics diff`` folded away.

It reads committed files only (git for the base, the working tree for the head), so it needs no
DVC remote and no training. It first checks that the head's results are current (``make check``):
a review of stale results would report "same" for a change nobody reran. ``--allow-stale`` writes a
draft anyway, with the stale stages named at its top.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from mnist_ae import StudyError
from mnist_ae.config import PARAMS_FILE
from mnist_ae.files import atomic_dir, atomic_path
from mnist_ae.paths import FIGURES_DIR, METRICS_DIR
from mnist_ae.report import key_metrics
from mnist_ae.tools import dvc_cli
from mnist_ae.tools.check import RERUN_HINT, check_current, describe, stale_stages
from mnist_ae.tools.dvc_cli import dotted

# Which way is better for each key metric, and the largest change still called "within noise".
# The thresholds are judgement, not a measured seed-to-seed spread: about a thousandth of a nat
# of BCE, a twentieth of a dB, and one binomial standard error of an accuracy on 10,000 digits.
HIGHER_IS_BETTER = {"bce": False, "neg_elbo": False, "psnr_db": True, "gain_db": True,
                    "logreg_acc": True, "test_acc": True}
WITHIN_NOISE = {"bce": 0.001, "neg_elbo": 0.5, "psnr_db": 0.05, "gain_db": 0.05,
                "logreg_acc": 0.003, "test_acc": 0.002}
# Measured on digits noised at noise.factor: a new factor makes them a different test.
NOISY_INPUT_METRICS = {"gain_db"}
NOISE_PARAM = ("noise", "factor")

REFERENCE_MODELS = ("pca",)


@dataclass(frozen=True)
class MetricChange:
    name: str  # model.metric, e.g. dense.bce
    base: float | None
    head: float | None
    noise_changed: bool = False  # noise.factor differs between the two sides

    @property
    def metric(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.head is None else self.head - self.base

    @property
    def percent(self) -> float | None:
        if self.delta is None or self.base == 0:
            return None
        return 100.0 * self.delta / abs(self.base)

    @property
    def verdict(self) -> str:
        if self.base is None:
            return "new"
        if self.head is None:
            return "removed"
        if self.delta == 0:
            return "same"
        if abs(self.delta) <= WITHIN_NOISE.get(self.metric, 0.0):
            return "same (within noise)"
        if self.metric not in HIGHER_IS_BETTER:
            return "changed"
        return "better" if (self.delta > 0) == HIGHER_IS_BETTER[self.metric] else "worse"

    @property
    def at_new_noise_level(self) -> bool:
        """Both values exist but were measured on differently noised digits."""
        return self.noise_changed and self.metric in NOISY_INPUT_METRICS and self.delta is not None


def compare(base: dict[str, dict[str, float]], head: dict[str, dict[str, float]],
            noise_changed: bool = False) -> list[MetricChange]:
    """One change per key metric on either side, in head's order, then metrics only base has."""
    flat_base, flat_head = dotted(base), dotted(head)
    names = [*flat_head, *(name for name in flat_base if name not in flat_head)]
    return [MetricChange(name, flat_base.get(name), flat_head.get(name), noise_changed) for name in names]


def _number(value: float | None, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "–"
    if value == 0:
        return "0"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def metrics_table(changes: list[MetricChange]) -> str:
    """Changed metrics first (in their original order), then the unchanged ones."""
    lines = ["| metric | base | head | change | change % | verdict |", "|---|---:|---:|---:|---:|---|"]
    for c in sorted(changes, key=lambda c: c.verdict == "same"):
        percent = "–" if c.percent is None else "0" if c.delta == 0 else f"{c.percent:+.2f}%"
        verdict = f"**{c.verdict}**" if c.verdict in ("better", "worse") else c.verdict
        if c.at_new_noise_level:
            verdict += ", at a new noise factor"
        lines.append(f"| `{c.name}` | {_number(c.base)} | {_number(c.head)} | {_number(c.delta, True)} | "
                     f"{percent} | {verdict} |")
    return "\n".join(lines) + "\n"


def tally(changes: list[MetricChange]) -> str:
    counts: dict[str, int] = {}
    for c in changes:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    order = ["better", "worse", "same (within noise)", "same", "changed", "new", "removed"]
    text = ", ".join(f"{counts[v]} {v}" for v in order if v in counts)
    moved = sum(c.at_new_noise_level for c in changes)
    return text + (f"; {moved} of them measured at a new noise factor" if moved else "")


class Revisions:
    """Reads committed files at ``base`` through git and head files from the working tree."""

    def __init__(self, root: Path, base: str):
        self.root = root
        try:
            self.base_sha = self.git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").strip()
        except subprocess.CalledProcessError:
            raise StudyError(f"base revision '{base}' not found in the git repository at {root}") from None

    def git(self, *args: str, binary: bool = False):
        result = subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True,
                                text=not binary)
        return result.stdout

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


def params_at(read) -> dict:
    return yaml.safe_load(read(PARAMS_FILE) or b"{}") or {}


def noise_factor(params: dict):
    section, key = NOISE_PARAM
    return params.get(section, {}).get(key)


def summary_at(read, params: dict | None = None) -> dict[str, dict[str, float]]:
    """Key metrics of one side, from its params.yaml's models and their metrics/*.json.

    Computed rather than read from reports/summary.json, so a base older than that file works;
    a model dropped from train.models is left out even if its old metrics file is still there.
    """
    params = params_at(read) if params is None else params
    names = [*params.get("train", {}).get("models", {}), *REFERENCE_MODELS]
    metrics = {}
    for name in names:
        raw = read(METRICS_DIR / f"{name}.json")
        if raw is not None:
            metrics[name] = json.loads(raw)
    classifier = read(METRICS_DIR / "classifier.json")
    return key_metrics(metrics, json.loads(classifier) if classifier else {"test_acc": math.nan})


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
        rows.append(f"| `{name}` | {cells[0]} | {cells[1]} |")
    if not rows:
        return f"No figure under `{FIGURES_DIR}` changed.\n"
    unchanged = len(names) - len(rows)
    return "\n".join([f"{len(rows)} changed, {unchanged} unchanged.", "",
                      "| figure | base | head |", "|---|---|---|", *rows]) + "\n"


def table_or(markdown: str, fallback: str) -> str:
    """dvc's --md diffs print a bare header when nothing changed."""
    return markdown if len(markdown.splitlines()) > 2 else fallback


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


def write_review(root: Path, base: str, out: Path, allow_stale: bool = False) -> Path:
    """Write the review to ``out`` and its figures and plots HTML next to it, in ``<stem>_files/``."""
    warning = staleness_note(root, allow_stale)
    revs = Revisions(root, base)
    head_sha = revs.git("rev-parse", "--short", "HEAD").strip()
    dirty = bool(revs.git("status", "--porcelain", "--untracked-files=no").strip())
    base_params, head_params = params_at(revs.base_file), params_at(revs.head_file)
    base_noise, head_noise = noise_factor(base_params), noise_factor(head_params)
    changes = compare(summary_at(revs.base_file, base_params), summary_at(revs.head_file, head_params),
                      base_noise != head_noise)

    params = table_or(dvc_cli.output(root, "params", "diff", revs.base_sha, "--md"), "No param changed.")
    full_metrics = table_or(dvc_cli.output(root, "metrics", "diff", revs.base_sha, "--md"), "No metric changed.")
    assets_name = f"{out.stem}_files"
    with atomic_dir(out.parent / assets_name) as assets:
        figures_section = changed_figures(revs, assets, assets_name)
        dvc_cli.output(root, "plots", "diff", revs.base_sha, "-o", str(assets / "plots"))

    head_label = f"`{head_sha}`" + (" plus uncommitted changes" if dirty else "")
    base_label = f"`{base}`" + ("" if revs.base_sha.startswith(base) else f" (`{revs.base_sha[:7]}`)")
    text = "\n".join([
        f"# Results review: {base_label} → {head_label}",
        "",
        *([warning] if warning else []),
        "## Params",
        "",
        params,
        "",
        "## Key metrics",
        "",
        f"{tally(changes)}.",
        "",
        "Lower is better for `bce` and `neg_elbo`, higher for the rest. A change no larger than "
        + ", ".join(f"`{k}` {v:g}" for k, v in WITHIN_NOISE.items()) + " is within run-to-run noise."
        + (f" `noise.factor` changed from {base_noise} to {head_noise}, so "
           + ", ".join(f"`{m}`" for m in sorted(NOISY_INPUT_METRICS))
           + " compares digits noised differently: the verdict says how the number moved, not that "
             "the model got better or worse." if base_noise != head_noise else ""),
        "",
        metrics_table(changes),
        "## Changed figures",
        "",
        figures_section,
        "## Interactive plots",
        "",
        f"`dvc plots diff {base}` rendered every curve of both revisions into "
        f"[`{assets_name}/plots/index.html`]({assets_name}/plots/index.html).",
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
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="main", help="git revision to compare against (default: main)")
    parser.add_argument("--out", type=Path, default=Path("report.md"), help="where to write (default: report.md)")
    parser.add_argument("--allow-stale", action="store_true",
                        help="review even if the committed results do not match dvc.lock (a draft)")
    args = parser.parse_args(argv)
    out = write_review(Path.cwd(), args.base, args.out, args.allow_stale)
    print(f"wrote {out} and {out.parent / (out.stem + '_files')}/")


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
