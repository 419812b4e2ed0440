"""Stage prepare: scale to [0, 1], split train/validation, keep the test set held out."""

import logging

from mnist_ae import ConfigError
from mnist_ae.config import load_params
from mnist_ae.data import KERAS_KEYS, check_keras_layout, scale, split_train_val
from mnist_ae.files import Split, atomic_dir, load_npz, save_split
from mnist_ae.paths import RAW_NPZ, data_dir
from mnist_ae.stage import run_stage

log = logging.getLogger("prepare")


def main(argv: list[str]) -> None:
    params = load_params()
    cfg = params.prepare
    raw = load_npz(RAW_NPZ, KERAS_KEYS)
    check_keras_layout(raw, str(RAW_NPZ))
    for key, wanted, part in (("train_subset", cfg.train_subset, "train"), ("test_subset", cfg.test_subset, "test")):
        if wanted is not None and wanted > len(raw[f"x_{part}"]):
            raise ConfigError(f"prepare.{key}: {wanted} is more than the {len(raw[f'x_{part}'])} {part} images "
                              f"in {RAW_NPZ}")
    n_train = cfg.train_subset or len(raw["x_train"])
    n_test = cfg.test_subset or len(raw["x_test"])
    train, val = split_train_val(scale(raw["x_train"][:n_train]), raw["y_train"][:n_train],
                                 cfg.val_fraction, params.base.seed)
    test = Split(scale(raw["x_test"][:n_test]), raw["y_test"][:n_test])
    with atomic_dir(data_dir("clean")) as out:
        for name, split in {"train": train, "val": val, "test": test}.items():
            save_split(out / f"{name}.npz", split)
    log.info("train %d, validation %d, test %d images", len(train.x), len(val.x), len(test.x))


if __name__ == "__main__":
    run_stage(main)
