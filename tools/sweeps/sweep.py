"""Summarise a one-param sweep of experiments as a figure and a CSV.

``python -m tools.sweeps.sweep --param noise.factor --model denoise`` (``make experiments PLOT=1``) reads
``dvc.api.exp_show()``, keeps the baseline and every finished experiment that differs from its
baseline in ``--param`` alone, and draws the model's PSNR gain and test BCE against the param:

    dvc exp run --queue -S noise.factor=0.1,0.3,0.5,0.7 && dvc queue start -j 2
    python -m tools.sweeps.sweep --param noise.factor --model denoise
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import yaml

from mnist_ae.config import PARAMS_FILE
from mnist_ae import StudyError
from mnist_ae.catalogue import metrics_named
from mnist_ae.files import atomic_path
from mnist_ae.dotted import flatten

log = logging.getLogger("sweep")

# The sweep table's metric columns, from the catalogue; each is read from metrics/<model>.json.
SWEEP_METRICS = metrics_named(("gain_db", "bce_nats", "noisy_bce_nats"))
GAIN, BCE, NOISY_BCE = SWEEP_METRICS


def experiment_groups(rows: list[dict]) -> Iterator[tuple[dict, list[dict]]]:
    """(baseline row, its experiment rows) for every baseline commit that ``dvc.api.exp_show`` lists."""
    baseline, experiments = None, []
    for row in rows:
        if row.get("typ") == "baseline":
            if baseline is not None:
                yield baseline, experiments
            baseline, experiments = row, []
        elif baseline is not None:
            experiments.append(row)
    if baseline is not None:
        yield baseline, experiments


def finished(row: dict) -> bool:
    """Queued and running experiments show their baseline's metrics, and failed ones none."""
    return row.get("State") in (None, "", "Success")


def cell(row: dict, name: str, source: str) -> Any:
    """A cell by name; DVC prefixes a name with its file (``metrics/dense.json:test.bce_nats``) when
    another file has the same name."""
    return row.get(f"{source}:{name}", row.get(name))


def sweep_table(rows: list[dict], param: str, model: str, param_names: list[str]) -> pd.DataFrame:
    """One row per value of ``param``: the experiment's name and the model's sweep metrics.

    ``rows`` is ``dvc.api.exp_show()``'s output; ``param_names`` are the params.yaml keys compared to
    keep only the runs that differ from their baseline in ``param`` alone.
    """
    metrics_file = f"metrics/{model}.json"
    table_rows = []
    for baseline, experiments in experiment_groups(rows):
        if baseline.get("rev") == "workspace" or cell(baseline, param, PARAMS_FILE) is None:
            continue  # the workspace repeats its commit, or holds unsaved results
        base_params = {name: cell(baseline, name, PARAMS_FILE) for name in param_names}
        for row in [baseline, *filter(finished, experiments)]:
            params = {name: cell(row, name, PARAMS_FILE) for name in param_names}
            others_changed = [name for name in param_names if name != param and params[name] != base_params[name]]
            values = {m.name: row.get(f"{metrics_file}:{m.path}") for m in SWEEP_METRICS}
            if others_changed or None in values.values():
                continue
            name = row.get("Experiment") or row.get("rev", "")
            table_rows.append({param: cell(row, param, PARAMS_FILE), "experiment": name,
                               "baseline": row is baseline, **values})
    if not table_rows:
        raise StudyError(f"no finished experiment varies {param} alone with {metrics_file}; "
                         f"run a sweep first, e.g. dvc exp run --queue -S {param}=0.1,0.3")
    table = pd.DataFrame(table_rows)
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
    gain_ax.plot(x, table[GAIN.name], "o-", color="tab:green")
    for value, gain in zip(x, table[GAIN.name]):  # each point named by its value, not its commit
        gain_ax.annotate(f"{param} = {value:g}", (value, gain), textcoords="offset points", xytext=(4, 6),
                         fontsize=7)
    gain_ax.set(xlabel=param, ylabel=f"{GAIN.title} on noisy test digits", title=f"{model}: PSNR gain")
    bce_ax.plot(x, table[BCE.name], "o-", label="clean test digits in")
    bce_ax.plot(x, table[NOISY_BCE.name], "s--", label="noisy test digits in")
    bce_ax.set(xlabel=param, ylabel=f"test BCE against clean digits ({BCE.unit})",
               title=f"{model}: reconstruction error")
    bce_ax.legend()
    for ax in (gain_ax, bce_ax):
        ax.grid(alpha=0.3)
        ax.margins(x=0.12)  # room for the labels
        for value in table.loc[table["baseline"], param]:
            ax.axvline(value, color="grey", lw=0.8, ls=":")  # the committed setting
    fig.suptitle(f"Sweep of {param}: {len(table)} runs from dvc exp show (dotted: the baseline)")
    fig.tight_layout()
    return fig


def read_exp_show(source: Path | None, all_commits: bool, rev: str | None) -> list[dict]:
    """``dvc.api.exp_show()``'s rows, or rows saved from it as JSON (``--input``)."""
    if source is not None:
        try:
            return json.loads(source.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StudyError(f"{source}: not readable saved dvc.api.exp_show output ({exc})") from None
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        return dvc.api.exp_show(revs=rev, num=-1 if all_commits else 1)
    except DvcException as exc:
        raise StudyError(f"dvc exp show failed: {exc}") from None


def params_names(path: Path = Path(PARAMS_FILE)) -> list[str]:
    """Every dotted key of this checkout's params.yaml: the params a sweep run must share with its baseline."""
    return list(flatten(yaml.safe_load(path.read_text())))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--param", default="noise.factor", help="the swept param (default: noise.factor)")
    parser.add_argument("--model", default="denoise", help="whose metrics to draw (default: denoise)")
    parser.add_argument("--input", type=Path, help="saved dvc.api.exp_show() rows as JSON (default: call it)")
    parser.add_argument("--rev", help="the commit the sweep was queued on (default: HEAD)")
    parser.add_argument("--all-commits", action="store_true", help="include experiments of every commit")
    parser.add_argument("--out", type=Path, help="PNG to write (default: sweeps/sweep_<param>_<model>.png; "
                                                 "the committed record in records/ is never overwritten)")
    args = parser.parse_args(argv)
    out = args.out or Path("sweeps") / f"sweep_{args.param.replace('.', '_')}_{args.model}.png"
    table = sweep_table(read_exp_show(args.input, args.all_commits, args.rev), args.param, args.model, params_names())
    fig = sweep_figure(table, args.param, args.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100)
    with atomic_path(out.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))
    print(f"wrote {out} and {out.with_suffix('.csv')}")


if __name__ == "__main__":
    from mnist_ae.stage import run_stage

    run_stage(main, log_usage=False)
