"""Stage report: the results table of README.md and the key-metrics summary, from the metrics files."""

import argparse
from operator import attrgetter
from pathlib import Path

from mnist_ae.config import load_params
from mnist_ae.dotted import flatten
from mnist_ae.files import atomic_path, read_json, write_json
from mnist_ae.catalogue import key_metrics
from mnist_ae.paths import RESULTS_TABLE, SEED_SPREAD, SUMMARY, UNCERTAINTY_TABLE, metrics_file
from mnist_ae.report import (METRIC_PARAMS, applicable_spread, extras_table, results_table, splice_into_readme,
                             splice_into_uncertainty, uncertainty_table)
from mnist_ae.stage import run_stage


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readme", type=Path, help="only splice the committed results table into this README")
    parser.add_argument("--uncertainty", type=Path, help="only splice the committed uncertainty table into this "
                                                           "page (make docs: docs/uncertainty.md)")
    args = parser.parse_args(argv)
    if args.readme or args.uncertainty:  # only copies committed tables; the pipeline never edits the docs
        if args.readme:
            splice_into_readme(args.readme, RESULTS_TABLE.read_text())
        if args.uncertainty:
            splice_into_uncertainty(args.uncertainty, UNCERTAINTY_TABLE.read_text())
        return
    params = load_params()
    names = [*params.train.models, "pca", "mean_image"]
    metrics = {name: read_json(metrics_file(name)) for name in names}
    floor = read_json(metrics_file("floor"))["test"]["bce_nats"]
    classifier = read_json(metrics_file("classifier"))
    # The seed spread is shown only where it was measured at these very params (those a metric can
    # depend on, and only those are read: the stage's params in dvc.yaml).
    ours = flatten({key: attrgetter(key)(params) for key in METRIC_PARAMS})
    spread = applicable_spread(read_json(SEED_SPREAD) if SEED_SPREAD.exists() else None, ours)
    text = results_table(metrics, floor, spread) + "\n" + extras_table(metrics, classifier)
    summarised = {n: m for n, m in metrics.items() if n != "mean_image"} | {"classifier": classifier}
    write_json(SUMMARY, key_metrics(summarised))
    with atomic_path(UNCERTAINTY_TABLE) as tmp:
        tmp.write_text(uncertainty_table(metrics, spread))
    with atomic_path(RESULTS_TABLE) as tmp:
        tmp.write_text(text)


if __name__ == "__main__":
    run_stage(main)
