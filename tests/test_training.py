"""The training input: one seeded permutation per epoch, whatever the batches per call into TensorFlow."""

import dataclasses

import keras
import numpy as np
import pytest

from mnist_ae.config import parse_params
from mnist_ae.models import block_of, build
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
        model = build("dense", block_of(params.train, "dense"), seed=0)
        compile_autoencoder(model, train)
        fit_autoencoder(model, digits, digits, digits[:256], digits[:256], train, seed=0)
        weights[steps] = model.get_weights()
    for a, b in zip(weights[1], weights[8], strict=True):
        np.testing.assert_array_equal(a, b)



def test_cpu_flags_come_from_proc_cpuinfo(tmp_path):
    from mnist_ae.machine import cpu_flags

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 amx_bf16 avx512_bf16\n\n"
                       "processor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "amx_bf16", "avx512_bf16"}  # the first CPU's
    assert cpu_flags(tmp_path / "missing") == set()


@pytest.mark.parametrize("flags, warns", [(set(), True), ({"avx2"}, True), ({"avx512_bf16"}, False),
                                          ({"amx_bf16"}, False)])
def test_bfloat16_on_a_cpu_without_native_units_warns(monkeypatch, caplog, flags, warns):
    import keras

    from mnist_ae import training

    monkeypatch.setattr(training, "cpu_flags", lambda: flags)
    try:
        with caplog.at_level("WARNING", logger=training.log.name):
            training.set_precision("mixed_bfloat16")
    finally:
        keras.config.set_dtype_policy("float32")
    warned = any("no native bfloat16 units" in record.getMessage() for record in caplog.records)
    assert warned == warns
