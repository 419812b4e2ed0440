import hashlib

import numpy as np
import pytest

from mnist_ae import DataError
from mnist_ae.data import check_keras_layout, content_sha256, restore_uint8, scale, split_train_val
from mnist_ae.noise import add_gaussian_noise, rng_for


def test_noise_is_clipped_to_unit_range_and_actually_noisy():
    clean = np.linspace(0, 1, 28 * 28 * 50, dtype=np.float32).reshape(50, 28, 28)
    noisy = add_gaussian_noise(clean, 0.5, rng_for(0))
    assert noisy.dtype == np.float32 and noisy.shape == clean.shape
    assert noisy.min() == 0.0 and noisy.max() == 1.0  # both clips are hit at factor 0.5
    assert np.abs(noisy - clean).mean() > 0.1


def test_noise_is_seeded():
    clean = np.full((10, 28, 28), 0.5, dtype=np.float32)
    first = add_gaussian_noise(clean, 0.3, rng_for(42, 1))
    again = add_gaussian_noise(clean, 0.3, rng_for(42, 1))
    other_stream = add_gaussian_noise(clean, 0.3, rng_for(42, 2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other_stream)


def test_zero_noise_factor_leaves_digits_unchanged():
    clean = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(add_gaussian_noise(clean, 0.0, rng_for(0)), clean)


def test_split_sizes_follow_the_validation_fraction(sample):
    x, y = scale(sample["x_train"]), sample["y_train"]
    train, val = split_train_val(x, y, 0.3, seed=42)
    assert (len(train.x), len(val.x)) == (1400, 600)
    assert len(train.y) == 1400 and len(val.y) == 600
    again, _ = split_train_val(x, y, 0.3, seed=42)
    np.testing.assert_array_equal(train.x, again.x)


def test_scale_maps_uint8_to_unit_float32():
    scaled = scale(np.array([[0, 255]], dtype=np.uint8))
    assert scaled.dtype == np.float32
    np.testing.assert_array_equal(scaled, [[0.0, 1.0]])


def test_restore_uint8_inverts_the_pickle_encoding():
    digits = np.arange(256, dtype=np.uint8).repeat(4)[: 28 * 28 * 1].reshape(1, 784)
    restored = restore_uint8(digits.astype(np.float32) / 256.0, "test")
    np.testing.assert_array_equal(restored.reshape(1, 784), digits)


def test_restore_uint8_refuses_values_that_are_not_k_over_256():
    with pytest.raises(DataError, match="multiples of 1/256"):
        restore_uint8(np.full((1, 784), 0.3, dtype=np.float32), "bad.pkl")


def test_layout_check_names_the_bad_array(sample):
    broken = dict(sample, x_test=sample["x_test"].astype(np.float32))
    with pytest.raises(DataError, match="x_test must be uint8"):
        check_keras_layout(broken, "file.npz")
    check_keras_layout(sample, "sample")  # the real sample passes


def test_content_hash_covers_all_four_arrays_in_order(sample):
    digest = hashlib.sha256()
    for key in ("x_train", "y_train", "x_test", "y_test"):
        digest.update(sample[key].tobytes())
    assert content_sha256(sample) == digest.hexdigest()
    assert content_sha256(dict(sample, y_test=sample["y_test"][::-1].copy())) != digest.hexdigest()
