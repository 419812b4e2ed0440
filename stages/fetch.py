"""Stage fetch: write MNIST in the Keras layout to data/raw, with where it came from."""

import logging

import numpy as np

from mnist_ae.config import load_params
from mnist_ae.fetch import fetch_mnist
from mnist_ae.files import atomic_path, write_json
from mnist_ae.paths import RAW_NPZ, RAW_PROVENANCE
from mnist_ae.stage import run_stage

log = logging.getLogger("fetch")


def main(argv: list[str]) -> None:
    params = load_params()
    fetched = fetch_mnist(params.fetch)
    log.info("MNIST served by %s, content sha256 %s", fetched.source, fetched.sha256)
    with atomic_path(RAW_NPZ) as tmp:
        np.savez_compressed(tmp, **fetched.arrays)
    shapes = {key: list(array.shape) for key, array in fetched.arrays.items()}
    write_json(RAW_PROVENANCE, {"source": fetched.source, "content_sha256": fetched.sha256, "shapes": shapes})


if __name__ == "__main__":
    run_stage(main)
