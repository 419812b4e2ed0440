"""Stage noise: the notebook's Gaussian noise (§1.12) on train, validation and test."""

import logging

from mnist_ae.config import load_params
from mnist_ae.noise import add_gaussian_noise, rng_for
from mnist_ae.files import SPLITS, Split, atomic_dir, load_split, save_split
from mnist_ae.paths import data_dir
from mnist_ae.stage import run_stage

log = logging.getLogger("noise")


def main(argv: list[str]) -> None:
    params = load_params()
    with atomic_dir(data_dir("noisy")) as out:
        for stream, name in enumerate(SPLITS):
            clean = load_split(data_dir("clean"), name)
            noisy = add_gaussian_noise(clean.x, params.noise.factor, rng_for(params.base.seed, stream))
            save_split(out / f"{name}.npz", Split(noisy, clean.y))
    log.info("noise factor %.2f applied to %s", params.noise.factor, ", ".join(SPLITS))


if __name__ == "__main__":
    run_stage(main)
