"""Summarise a one-param sweep of experiments as a figure and a CSV.

``python -m mnist_ae.tools.sweep --param noise.factor --model denoise`` (``make sweep-plot``) reads
``dvc exp show --json``, keeps the baseline and every finished experiment that differs from its
baseline in ``--param`` alone, and draws the model's PSNR gain and test BCE against the param:

    dvc exp run --queue -S noise.factor=0.1,0.3,0.5,0.7 && dvc queue start -j 2
    python -m mnist_ae.tools.sweep --param noise.factor --model denoise
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from mnist_ae import StudyError
from mnist_ae.files import atomic_path
from mnist_ae.tools import dvc_cli
from mnist_ae.tools.dvc_cli import dotted

log = logging.getLogger("sweep")

# (column of the sweep table, dotted key in metrics/<model>.json)
SWEEP_METRICS = (
    ("gain_db", "noisy_test.gain_db"),
    ("test_bce", "test.bce_nats"),
    ("noisy_test_bce", "noisy_test.bce_nats"),
)


def _revisions(exp_show: list[dict]) -> Iterator[tuple[dict, list[dict]]]:
    """(baseline entry, its finished experiment entries) for every baseline commit shown."""
    for baseline in exp_show:
        if baseline.get("rev") == "workspace":
            continue  # the workspace repeats its commit, or holds unsaved results
        experiments = [rev for exp in baseline.get("experiments") or [] if _finished(exp)
                       for rev in exp.get("revs", [])]
        yield baseline, experiments


def _finished(experiment: dict) -> bool:
    """Queued and running experiments show their baseline's metrics, and failed ones none."""
    executor = experiment.get("executor")
    return not executor or executor.get("state") == "success"


def _params(entry: dict) -> dict[str, Any] | None:
    data = entry.get("data") or {}
    params = (data.get("params") or {}).get("params.yaml", {}).get("data")
    return dotted(params) if params else None


def _metric(entry: dict, model: str, dotted: str) -> float | None:
    data = entry.get("data") or {}
    tree = (data.get("metrics") or {}).get(f"metrics/{model}.json", {}).get("data")
    for key in dotted.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def sweep_table(exp_show: list[dict], param: str, model: str) -> pd.DataFrame:
    """One row per value of ``param``: the experiment's name and the model's sweep metrics."""
    rows = []
    for baseline, experiments in _revisions(exp_show):
        base_params = _params(baseline)
        if base_params is None or param not in base_params:
            continue
        for entry in [baseline, *experiments]:
            params = _params(entry)
            if params is None:
                continue  # queued, running or failed: no results yet
            others_changed = [k for k in set(params) | set(base_params)
                              if k != param and params.get(k) != base_params.get(k)]
            values = {column: _metric(entry, model, dotted) for column, dotted in SWEEP_METRICS}
            if others_changed or None in values.values():
                continue
            name = entry.get("name") or entry.get("rev", "")[:7]
            rows.append({param: params[param], "experiment": name, "baseline": entry is baseline, **values})
    if not rows:
        raise StudyError(f"no finished experiment varies {param} alone with metrics/{model}.json; "
                         f"run a sweep first, e.g. dvc exp run --queue -S {param}=0.1,0.3")
    table = pd.DataFrame(rows)
    if not pd.api.types.is_numeric_dtype(table[param]):
        raise StudyError(f"{param} takes non-numeric values {sorted(map(str, table[param].unique()))}; "
                         "a sweep plot needs a numeric param")
    duplicated = table.duplicated(subset=[param], keep="first")
    if duplicated.any():
        log.info("%d run(s) repeat a value of %s; keeping the first of each", int(duplicated.sum()), param)
    return table[~duplicated].sort_values(param).reset_index(drop=True)


def sweep_figure(table: pd.DataFrame, param: str, model: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (gain_ax, bce_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    x = table[param]
    gain_ax.plot(x, table["gain_db"], "o-", color="tab:green")
    for value, gain, name in zip(x, table["gain_db"], table["experiment"]):
        gain_ax.annotate(name, (value, gain), textcoords="offset points", xytext=(4, 6), fontsize=7)
    gain_ax.set(xlabel=param, ylabel="PSNR gain on noisy test digits (dB)", title=f"{model}: PSNR gain")
    bce_ax.plot(x, table["test_bce"], "o-", label="clean test digits in")
    bce_ax.plot(x, table["noisy_test_bce"], "s--", label="noisy test digits in")
    bce_ax.set(xlabel=param, ylabel="test BCE against clean digits (nats per pixel)",
               title=f"{model}: reconstruction error")
    bce_ax.legend()
    for ax in (gain_ax, bce_ax):
        ax.grid(alpha=0.3)
        ax.margins(x=0.12)  # room for the run names
        for value in table.loc[table["baseline"], param]:
            ax.axvline(value, color="grey", lw=0.8, ls=":")  # the committed setting
    fig.suptitle(f"Sweep of {param}: {len(table)} runs from dvc exp show (dotted: the baseline)")
    fig.tight_layout()
    return fig


def read_exp_show(source: Path | None, all_commits: bool, rev: str | None) -> list[dict]:
    if source is not None:
        try:
            return json.loads(source.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StudyError(f"{source}: not readable dvc exp show --json output ({exc})") from None
    args = ["exp", "show", "--json", *(["--all-commits"] if all_commits else []), *(["--rev", rev] if rev else [])]
    return json.loads(dvc_cli.output(Path.cwd(), *args))

def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--param", default="noise.factor", help="the swept param (default: noise.factor)")
    parser.add_argument("--model", default="denoise", help="whose metrics to draw (default: denoise)")
    parser.add_argument("--input", type=Path, help="saved `dvc exp show --json` output (default: run it)")
    parser.add_argument("--rev", help="the commit the sweep was queued on (default: HEAD)")
    parser.add_argument("--all-commits", action="store_true", help="include experiments of every commit")
    parser.add_argument("--out", type=Path, help="PNG to write (default: reports/sweep_<param>_<model>.png)")
    args = parser.parse_args(argv)
    out = args.out or Path("reports") / f"sweep_{args.param.replace('.', '_')}_{args.model}.png"
    table = sweep_table(read_exp_show(args.input, args.all_commits, args.rev), args.param, args.model)
    fig = sweep_figure(table, args.param, args.model)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100)
    with atomic_path(out.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))
    print(f"wrote {out} and {out.with_suffix('.csv')}")


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
