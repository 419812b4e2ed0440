"""The training input: one seeded permutation per epoch, whatever the batches per call into TensorFlow."""

import dataclasses

import keras
import numpy as np

from mnist_ae.config import parse_params
from mnist_ae.models import build
from mnist_ae.runtime import seed_everything
from mnist_ae.training import EpochBatches, compile_autoencoder, fit_autoencoder


def one_pass(batches: EpochBatches, epoch: int) -> list[np.ndarray]:
    batches.on_epoch_begin(epoch)
    return [inputs.numpy() for inputs, _ in batches.dataset]


def test_each_pass_is_one_epoch_drawn_from_seed_and_epoch():
    digits = np.arange(10, dtype=np.float32)[:, None] * np.ones((10, 4), np.float32)
    batches = EpochBatches(digits, digits, batch_size=4, seed=7, first_epoch=0)
    first = one_pass(batches, 0)
    assert [len(b) for b in first] == [4, 4, 2]  # exactly one epoch, the last batch short
    assert sorted(np.concatenate(first)[:, 0]) == list(range(10))  # every digit once
    again = EpochBatches(digits, digits, batch_size=4, seed=7, first_epoch=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, one_pass(again, 0), strict=True))  # (seed, epoch) alone
    assert not np.array_equal(np.concatenate(first), np.concatenate(one_pass(batches, 1)))


def test_steps_per_execution_trains_exactly_the_same_weights(raw_params, sample):
    """Six batches per epoch with eight per call: Keras must not run into the next epoch's batches."""
    params = parse_params(raw_params)
    digits = sample["x_train"][:1500].astype(np.float32) / 255.0
    weights = {}
    for steps in (1, 8):
        keras.backend.clear_session()
        train = dataclasses.replace(params.train, epochs=2, steps_per_execution=steps)
        seed_everything(0, train.deterministic)
        model = build("dense", params.train.models["dense"], seed=0)
        compile_autoencoder(model, train)
        fit_autoencoder(model, digits, digits, digits[:256], digits[:256], train, seed=0)
        weights[steps] = model.get_weights()
    for a, b in zip(weights[1], weights[8], strict=True):
        np.testing.assert_array_equal(a, b)

