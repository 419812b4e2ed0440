"""Stage classifier: a digit CNN that later judges decoded random codes."""

import logging

from mnist_ae.config import check_batch_fits, load_params
from mnist_ae.files import load_split, save_model, write_json
from mnist_ae.paths import CLASSIFIER, data_dir, metrics_file
from mnist_ae.stage import computing, run_stage

log = logging.getLogger("classifier")


def main(argv: list[str]) -> None:
    params = load_params()
    train, val, test = (load_split(data_dir("clean"), split) for split in ("train", "val", "test"))
    train_file = data_dir("clean") / "train.npz"
    check_batch_fits("classifier.batch_size", params.classifier.batch_size, len(train.x), train_file)

    # TensorFlow starts only here, once the params and data have passed their checks.
    from mnist_ae.classifier import accuracy, train_classifier
    from mnist_ae.runtime import seed_everything

    seed_everything(params.base.seed)
    with computing("fit"):
        model = train_classifier(train, val, params.classifier)
    with computing("evaluation"):
        test_acc = accuracy(model, test)
    log.info("classifier test accuracy %.4f", test_acc)
    save_model(model, CLASSIFIER)
    write_json(metrics_file("classifier"), {"test_acc": test_acc, "params": model.count_params()})


if __name__ == "__main__":
    run_stage(main)
