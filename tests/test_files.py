import hashlib
import time

import numpy as np
import pytest

from mnist_ae import DataError
from mnist_ae.files import Split, atomic_dir, atomic_path, load_split, save_split


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_saved_splits_are_byte_reproducible(tmp_path):
    """DVC hashes outputs: an identical rerun must give identical bytes, or everything downstream reruns."""
    split = Split(np.random.default_rng(0).random((20, 28, 28), dtype=np.float32), np.arange(20) % 10)
    save_split(tmp_path / "a.npz", split)
    time.sleep(1.1)  # a zip timestamp would differ by now
    save_split(tmp_path / "b.npz", split)
    assert digest(tmp_path / "a.npz") == digest(tmp_path / "b.npz")
    loaded = load_split(tmp_path, "a")
    np.testing.assert_array_equal(loaded.x, split.x)


def test_missing_split_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"train\.npz: file not found"):
        load_split(tmp_path, "train")


def test_truncated_split_is_reported_as_corrupt(tmp_path):
    save_split(tmp_path / "train.npz", Split(np.zeros((5, 28, 28), np.float32), np.zeros(5)))
    data = (tmp_path / "train.npz").read_bytes()
    (tmp_path / "train.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt"):
        load_split(tmp_path, "train")


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("atomic", [atomic_path, atomic_dir])
def test_failed_write_removes_the_folders_it_made(tmp_path, atomic):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "kept.csv").write_text("another stage's output")
    with pytest.raises(RuntimeError):
        with atomic(tmp_path / "plots" / "train" / "dense" / "log"):
            raise RuntimeError("crash")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["plots", "plots/kept.csv"]


def test_failed_directory_write_keeps_the_old_directory(tmp_path):
    target = tmp_path / "figures"
    target.mkdir()
    (target / "old.png").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "new.png").write_text("partial")
            raise RuntimeError("crash")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures"]
    assert [p.name for p in target.iterdir()] == ["old.png"]


def write_split(path, **arrays):
    np.savez(path, **arrays)


GOOD_X = np.zeros((4, 28, 28), np.float32)
GOOD_Y = np.arange(4, dtype=np.uint8)


@pytest.mark.parametrize("arrays, message", [
    ({"x": GOOD_X.astype(np.float64), "y": GOOD_Y}, r"x must be float32 digits of shape \(n, 28, 28\), got float64"),
    ({"x": GOOD_X.reshape(4, 784), "y": GOOD_Y}, r"x must be float32 digits .* got float32 \(4, 784\)"),
    ({"x": GOOD_X, "y": GOOD_Y[:3]}, r"y must hold 4 integer labels, got uint8 \(3,\)"),
    ({"x": GOOD_X, "y": GOOD_Y.astype(np.float32)}, r"y must hold 4 integer labels, got float32"),
    ({"x": GOOD_X * 255, "y": GOOD_Y}, None),  # all zeros: still in range
    ({"x": GOOD_X + 255, "y": GOOD_Y}, r"x must be scaled to \[0, 1\], got values in \[255, 255\]"),
    ({"x": GOOD_X}, r"missing array\(s\) \['y'\]"),
])
def test_a_wrongly_shaped_split_names_the_file(tmp_path, arrays, message):
    write_split(tmp_path / "train.npz", **arrays)
    if message is None:
        assert load_split(tmp_path, "train").x.shape == (4, 28, 28)
        return
    with pytest.raises(DataError, match=r"train\.npz: " + message):
        load_split(tmp_path, "train")


def test_a_half_written_split_names_the_file(tmp_path):
    save_split(tmp_path / "train.npz", Split(GOOD_X, GOOD_Y))
    data = (tmp_path / "train.npz").read_bytes()
    (tmp_path / "train.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"train\.npz: corrupt \.npz file"):
        load_split(tmp_path, "train")


def test_saved_models_are_byte_reproducible_and_load_back(tmp_path):
    """Keras stamps the save time into .keras files; save_model pins it, so DVC hashes stay put."""
    import keras

    from mnist_ae.files import save_model
    from mnist_ae.models import load

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    save_model(model, tmp_path / "first.keras")
    time.sleep(1.1)  # Keras' date_saved has one-second resolution
    save_model(model, tmp_path / "second.keras")
    model.save(tmp_path / "plain.keras")
    first = (tmp_path / "first.keras").read_bytes()
    assert first == (tmp_path / "second.keras").read_bytes()
    assert first != (tmp_path / "plain.keras").read_bytes()  # what save_model is for
    for saved, original in zip(load(tmp_path / "first.keras").get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, original)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.keras", "plain.keras", "second.keras"]


def test_saved_models_number_shared_objects_by_order_not_memory_address(tmp_path):
    """Layers sharing the global dtype policy are tied by a shared_object_id, which Keras takes from id()."""
    import json
    import re
    import zipfile

    import keras

    from mnist_ae.files import save_model
    from mnist_ae.models import load

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2), keras.layers.Dense(1)])
    save_model(model, tmp_path / "model.keras")
    config = zipfile.ZipFile(tmp_path / "model.keras").read("config.json").decode()
    ids = [int(found) for found in re.findall(r'"shared_object_id": (\d+)', config)]
    assert ids and set(ids) == set(range(len(set(ids))))  # 0, 1, ... rather than addresses
    assert json.loads(config)["config"]["layers"]
    assert load(tmp_path / "model.keras").count_params() == model.count_params()
