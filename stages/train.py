"""Stage train@<model>: fit one registered autoencoder and log its curves with dvclive.

A killed run resumes from its last completed epoch when rerun with the same params and data:
checkpoints live in .resume/, outside DVC's outputs, and are deleted once the model is saved.
"""

import dataclasses
from pathlib import Path

from mnist_ae.config import check_batch_fits, load_params
from mnist_ae.files import atomic_dir, save_model, training_digits
from mnist_ae.models import block_of, get_spec, module
from mnist_ae.paths import model_file, resume_dir, train_log_dir
from mnist_ae.stage import imported_project_files, model_argument, run_stage


def main(argv: list[str]) -> None:
    name = model_argument(argv, __doc__)
    get_spec(name)
    params = load_params()
    model_params = block_of(params.train, name)
    splits, files = training_digits(model_params.input)
    check_batch_fits("train.batch_size", params.train.batch_size, len(splits["inputs"]), files["inputs"])

    # TensorFlow starts only here, once every param and input has passed its checks.
    from mnist_ae.checkpoints import Checkpoints, fingerprint
    from mnist_ae.training import train_autoencoder

    # A checkpoint is valid only for the same code: every project file imported, this model's
    # module included (imported now), but not the other models' modules.
    module(name)
    shared = [f.name for f in dataclasses.fields(params.train) if f.name != "models"]  # not the other models
    settings = {"seed": params.base.seed, "model": dataclasses.asdict(model_params),
                "train": {key: getattr(params.train, key) for key in shared}}
    run = fingerprint(settings, [*dict.fromkeys(files.values()), *imported_project_files(Path.cwd())])
    checkpoints = Checkpoints(resume_dir(name) / run)
    with atomic_dir(train_log_dir(name)) as log_dir:
        model = train_autoencoder(name, model_params, params.train, params.base.seed, splits, log_dir, checkpoints)
        save_model(model, model_file(name))
    checkpoints.clear()


if __name__ == "__main__":
    run_stage(main)
