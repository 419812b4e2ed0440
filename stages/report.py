"""Stage report: the results table of README.md and the key-metrics summary, from the metrics files."""

import argparse
from pathlib import Path

from mnist_ae.config import load_params
from mnist_ae.dotted import flatten
from mnist_ae.files import atomic_path, read_json, write_json
from mnist_ae.catalogue import key_metrics
from mnist_ae.paths import RESULTS_TABLE, SEED_SPREAD, SUMMARY, metrics_file
from mnist_ae.report import (applicable_spread, extras_table, results_table, splice_into_readme,
                             uncertainty_table)
from mnist_ae.stage import run_stage


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readme", type=Path, help="also splice the table into this README (make readme)")
    args = parser.parse_args(argv)
    if args.readme:  # only copies the committed table; the pipeline itself never edits README.md
        splice_into_readme(args.readme, RESULTS_TABLE.read_text())
        return
    params = load_params()
    names = [*params.train.models, "pca", "mean_image"]
    metrics = {name: read_json(metrics_file(name)) for name in names}
    floor = read_json(metrics_file("floor"))["test"]["bce_nats"]
    classifier = read_json(metrics_file("classifier"))
    # The seed spread is shown only where it was measured at these very params.
    spread = applicable_spread(read_json(SEED_SPREAD) if SEED_SPREAD.exists() else None, flatten(params))
    text = (results_table(metrics, floor) + "\n" + uncertainty_table(metrics, spread) + "\n"
            + extras_table(metrics, classifier))
    summarised = {n: m for n, m in metrics.items() if n != "mean_image"} | {"classifier": classifier}
    write_json(SUMMARY, key_metrics(summarised))
    with atomic_path(RESULTS_TABLE) as tmp:
        tmp.write_text(text)


if __name__ == "__main__":
    run_stage(main)
