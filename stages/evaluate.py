"""Stage evaluate@<model>: every test metric of one trained autoencoder, and its noise sweep."""

import logging

from mnist_ae.config import load_params
from mnist_ae.files import atomic_path, load_split, write_json
from mnist_ae.models import get_spec
from mnist_ae.paths import CLASSIFIER, data_dir, metrics_file, model_file, robustness_file
from mnist_ae.stage import computing, model_argument, run_stage

log = logging.getLogger("evaluate")


def main(argv: list[str]) -> None:
    name = model_argument(argv, __doc__)
    get_spec(name)
    params = load_params()
    train, test = load_split(data_dir("clean"), "train"), load_split(data_dir("clean"), "test")
    noisy_test = load_split(data_dir("noisy"), "test").x

    # TensorFlow starts only here, once the params and data have passed their checks.
    from mnist_ae.codecs import robustness_curve
    from mnist_ae.evaluation import evaluate_model, keras_codec
    from mnist_ae.models import load

    model, classifier = load(model_file(name), name), load(CLASSIFIER, "classifier")

    with computing("evaluation"):
        metrics = evaluate_model(name, model, classifier, train, test, noisy_test, params.evaluate, params.base.seed)
        curve = robustness_curve(keras_codec(model).reconstruct, test.x, params.evaluate.robustness_factors,
                                 params.base.seed)
    with atomic_path(robustness_file(name)) as tmp:
        curve.to_csv(tmp, index=False)
    write_json(metrics_file(name), metrics)
    log.info("%s: test BCE %.4f, PSNR %.2f dB, SSIM %.3f", name, metrics["test"]["bce_nats"],
             metrics["test"]["psnr_db"], metrics["test"]["ssim"])


if __name__ == "__main__":
    run_stage(main)
