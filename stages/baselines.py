"""Stage baselines: reference rows with no training: PCA, the mean image, the noisy input, the BCE floor."""

import logging

from mnist_ae.config import load_params
from mnist_ae.files import atomic_path, load_split, write_json
from mnist_ae.paths import data_dir, metrics_file, robustness_file
from mnist_ae.stage import computing, run_stage

log = logging.getLogger("baselines")


def main(argv: list[str]) -> None:
    params = load_params()
    seed, cfg = params.base.seed, params.evaluate
    train, test = load_split(data_dir("clean"), "train"), load_split(data_dir("clean"), "test")
    noisy_test = load_split(data_dir("noisy"), "test").x

    # TensorFlow starts only here (the metrics use it), once the params have passed.
    from mnist_ae.codecs import (evaluate_codec, fit_pca, floor_metrics, identity, mean_image_metrics, pca_codec,
                                 robustness_curve)

    with computing("evaluation"):
        pca = pca_codec(fit_pca(train.x, params.baselines.pca_components, seed))
        curves = {
            "pca": robustness_curve(pca.reconstruct, test.x, cfg.robustness_factors, seed),
            "noisy_input": robustness_curve(identity, test.x, cfg.robustness_factors, seed),
        }
        pca_metrics = evaluate_codec(pca, train, test, noisy_test, cfg.probe_train_size, cfg.knn_neighbors, seed)
        mean_image, floor = mean_image_metrics(train, test), floor_metrics(test)
    for name, curve in curves.items():
        with atomic_path(robustness_file(name)) as tmp:
            curve.to_csv(tmp, index=False)
    write_json(metrics_file("pca"), pca_metrics)
    write_json(metrics_file("mean_image"), mean_image)
    write_json(metrics_file("floor"), floor)
    log.info("PCA-%d test BCE %.4f", params.baselines.pca_components, pca_metrics["test"]["bce_nats"])


if __name__ == "__main__":
    run_stage(main)
