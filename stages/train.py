"""Stage train@<model>: fit one registered autoencoder and log its curves with dvclive."""

import argparse
import logging

from dvclive import Live
from dvclive.keras import DVCLiveCallback

from mnist_ae import ConfigError
from mnist_ae.config import load_params
from mnist_ae.io import atomic_dir, atomic_path, load_split
from mnist_ae.models import build, get_spec
from mnist_ae.paths import data_dir, model_file, train_log_dir
from mnist_ae.stage import run_stage
from mnist_ae.training import fit_autoencoder, seed_everything

log = logging.getLogger("train")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="a name from the model registry, e.g. dense")
    name = parser.parse_args(argv).model
    get_spec(name)  # an unknown name fails here, listing the known ones
    params = load_params()
    if name not in params.train.models:
        raise ConfigError(f"train.models.{name}: missing params block")
    model_params = params.train.models[name]

    inputs = {split: load_split(data_dir(model_params.input), split).x for split in ("train", "val")}
    targets = {split: load_split(data_dir("clean"), split).x for split in ("train", "val")}
    seed_everything(params.base.seed)
    model = build(name, model_params, params.base.seed)
    model.summary(print_fn=log.info)
    log.info("training %s on %s digits: %d train, %d validation", name, model_params.input,
             len(inputs["train"]), len(inputs["val"]))

    with atomic_dir(train_log_dir(name)) as log_dir:
        with Live(dir=str(log_dir), save_dvc_exp=False, dvcyaml=None) as live:
            fit_autoencoder(model, inputs["train"], targets["train"], inputs["val"], targets["val"],
                            params.train, callbacks=[DVCLiveCallback(live=live)])
        with atomic_path(model_file(name)) as tmp:
            model.save(tmp)


if __name__ == "__main__":
    run_stage(main)
