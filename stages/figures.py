"""Stage figures: every figure of the notebook, for every model, as PNGs under plots/figures."""

import logging
import time

import matplotlib.pyplot as plt
import pandas as pd

from mnist_ae import figures
from mnist_ae.config import load_params, select_figures
from mnist_ae.noise import rng_for
from mnist_ae.files import atomic_dir, load_split, read_json, read_training_history
from mnist_ae.models import MODELS, get_spec
from mnist_ae.paths import FIGURES_DIR, data_dir, metrics_file, model_file, robustness_file, train_log_dir
from mnist_ae.stage import add_compute, run_stage

log = logging.getLogger("figures")


def main(argv: list[str]) -> None:
    params = load_params()
    names, seed = list(params.train.models), params.base.seed
    cfg, skipped = select_figures(params.figures, MODELS, names)
    test, noisy_test = load_split(data_dir("clean"), "test"), load_split(data_dir("noisy"), "test")
    digits, noisy_digits = test.x[: cfg.n_digits], noisy_test.x[: cfg.n_digits]

    # TensorFlow starts only here, once the params have passed their checks.
    from mnist_ae.codecs import SAMPLES_STREAM, sample_codes
    from mnist_ae.evaluation import keras_codec
    from mnist_ae.models import code_shape, code_size, load

    models = {name: load(model_file(name), name) for name in names}
    drawing = time.perf_counter()  # from here to the saving, the study's own compute (make bench)
    cfg, unsuitable = select_figures(cfg, MODELS, names, {name: code_size(m) for name, m in models.items()})
    for line in [*skipped, *unsuitable]:
        log.info(line)
    codecs = {name: keras_codec(model) for name, model in models.items()}
    metrics = {name: read_json(metrics_file(name)) for name in [*names, "pca", "mean_image"]}
    drawn = {}

    for name in names:
        drawn[f"training_curves_{name}"] = figures.training_curves(
            name, read_training_history(train_log_dir(name)), get_spec(name).loss_unit)
        drawn[f"reconstructions_{name}"] = figures.digit_rows(
            {"original": digits, name: codecs[name].reconstruct(digits)},
            f"{name}: test digits and their reconstructions (test BCE {metrics[name]['test']['bce_nats']:.4f})")
    drawn["noisy_digits"] = figures.digit_rows(
        {"noisy": noisy_digits}, f"Test digits with Gaussian noise, factor {params.noise.factor}")
    for name in cfg.denoising:
        gain = metrics[name]["noisy_test"]["gain_db"]
        drawn[f"denoising_{name}"] = figures.digit_rows(
            {"original": digits, "noisy": noisy_digits, name: codecs[name].reconstruct(noisy_digits)},
            f"{name}: original, noisy and denoised test digits (PSNR gain {gain:+.2f} dB)")
    for name in cfg.code_images:
        codes = codecs[name].encode(digits).reshape(-1, *code_shape(models[name]))
        drawn[f"codes_{name}"] = figures.code_images(
            digits, codes, f"{name}: test digits and their {'x'.join(map(str, code_shape(models[name])))} codes")
    for name in cfg.latent_scatter:
        drawn[f"latent_{name}"] = figures.latent_scatter(
            codecs[name].encode(test.x), test.y, f"{name}: latent means of the test set")
    if cfg.manifold_model is not None:
        name = cfg.manifold_model
        drawn[f"manifold_{name}"] = figures.manifold(
            codecs[name].decode, cfg.manifold_size, cfg.manifold_extent,
            f"{name}: digits decoded from a {cfg.manifold_size}x{cfg.manifold_size} latent grid")
    if cfg.samples:
        rng = rng_for(seed, SAMPLES_STREAM)
        rows, captions = {}, {}
        for name in cfg.samples:
            prior = get_spec(name).code_prior
            rows[name] = codecs[name].decode(sample_codes(prior, code_shape(models[name]), cfg.n_digits, rng))
            quality = metrics[name]["generation"]
            captions[name] = (f"{prior} codes; confidence {quality['mean_confidence']:.2f}, "
                              f"class entropy {quality['class_entropy_nats']:.2f} nats")
        drawn["samples"] = figures.digit_rows(rows, "Decoders fed random codes", captions)
    curves = {name: pd.read_csv(robustness_file(name)) for name in cfg.robustness}
    drawn["robustness"] = figures.robustness(curves, params.noise.factor)
    bce_floor = read_json(metrics_file("floor"))["test"]["bce_nats"]
    drawn["metrics_comparison"] = figures.metrics_comparison(metrics, bce_floor)

    add_compute("evaluation", time.perf_counter() - drawing)
    with atomic_dir(FIGURES_DIR) as out:
        for stem, fig in drawn.items():
            fig.savefig(out / f"{stem}.png", dpi=90)
            plt.close(fig)
    log.info("drew %d figures into %s", len(drawn), FIGURES_DIR)


if __name__ == "__main__":
    run_stage(main)
