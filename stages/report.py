"""Stage report: the results and uncertainty tables and the key-metrics summary under reports/, from the
metrics files. `make docs` copies the tables into README.md and docs/uncertainty.md (tools/docs/facts.py)."""

from operator import attrgetter

from mnist_ae.config import load_params
from mnist_ae.dotted import flatten
from mnist_ae.files import atomic_path, read_json, write_json
from mnist_ae.catalogue import key_metrics
from mnist_ae.paths import RESULTS_TABLE, SEED_SPREAD, SUMMARY, UNCERTAINTY_TABLE, metrics_file
from mnist_ae.report import METRIC_PARAMS, applicable_spread, extras_table, results_table, uncertainty_table
from mnist_ae.stage import run_stage


def main(argv: list[str]) -> None:
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
