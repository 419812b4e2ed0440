"""Every registered model, tested for free: build, parameter count, shapes, one training step."""

import keras
import numpy as np
import pytest

from mnist_ae.config import parse_params
from mnist_ae.models import MODELS, build, code_shape, decoder_of, encoder_of, input_shape, load, typed_blocks
from mnist_ae.models.vae import kl_divergence
from mnist_ae.models import as_model_input
from mnist_ae.training import make_optimizer

# The notebook's own model summaries.
EXPECTED_PARAMS = {"dense": 50_992, "sparse": 50_992, "deep": 222_384, "conv": 4_385, "denoise": 28_353,
                   "vae": 807_700}
EXPECTED_CODE = {"dense": (32,), "sparse": (32,), "deep": (32,), "conv": (4, 4, 8), "denoise": (7, 7, 32),
                 "vae": (2,)}


@pytest.fixture(scope="module")
def model_params(raw_params):
    return typed_blocks(parse_params(raw_params).train)


def test_every_registered_model_has_a_params_block_and_an_expectation(model_params):
    assert set(MODELS) == set(model_params) == set(EXPECTED_PARAMS)


@pytest.mark.parametrize("name", list(MODELS))
def test_model_builds_with_the_notebook_parameter_count(name, model_params):
    model = build(name, model_params[name], seed=0)
    assert model.count_params() == EXPECTED_PARAMS[name]
    assert code_shape(model) == EXPECTED_CODE[name]


@pytest.mark.parametrize("name", list(MODELS))
def test_model_maps_digits_to_digits_and_trains_a_step(name, model_params, sample):
    keras.utils.set_random_seed(0)
    model = build(name, model_params[name], seed=0)
    x = as_model_input(model, sample["x_train"][:32].astype(np.float32) / 255.0)
    output = model.predict(x, verbose=0)
    assert output.shape == x.shape
    assert output.min() >= 0.0 and output.max() <= 1.0
    codes = encoder_of(model).predict(x, verbose=0)
    codes = codes[0] if isinstance(codes, list) else codes
    assert codes.shape == (32, *EXPECTED_CODE[name])
    assert decoder_of(model).predict(codes, verbose=0).shape == x.shape

    model.compile(optimizer=make_optimizer("adam", None), loss="binary_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, x, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(b, a) for b, a in zip(before, model.get_weights()))


def test_sparse_penalty_reaches_the_loss(model_params, sample):
    x = sample["x_train"][:16].reshape(16, 784).astype(np.float32) / 255.0
    sparse = build("sparse", model_params["sparse"], seed=0)
    sparse(x, training=True)
    assert len(sparse.losses) == 1 and float(sparse.losses[0]) > 0


def test_conv_models_take_images_and_dense_ones_take_vectors(model_params):
    assert input_shape(build("conv", model_params["conv"], 0)) == (28, 28, 1)
    assert input_shape(build("dense", model_params["dense"], 0)) == (784,)


def test_vae_round_trips_through_a_keras_file(model_params, sample, tmp_path):
    keras.utils.set_random_seed(1)
    vae = build("vae", model_params["vae"], seed=1)
    x = sample["x_train"][:64].reshape(64, 784).astype(np.float32) / 255.0
    vae.compile(optimizer="adam")
    history = vae.fit(x, x, validation_data=(x, x), epochs=1, batch_size=32, verbose=0)
    assert {"loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss",
            "val_kl_loss"} <= set(history.history)
    vae.save(tmp_path / "vae.keras")
    loaded = load(tmp_path / "vae.keras")
    assert type(loaded) is type(vae)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), vae.predict(x, verbose=0))


def test_kl_is_zero_for_a_standard_normal_posterior():
    zeros = np.zeros((3, 2), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kl_divergence(zeros, zeros)), 0.0, atol=1e-7)


def test_kl_matches_a_hand_computation():
    # KL(N(mu, s^2) || N(0, 1)) = 0.5 * (s^2 + mu^2 - 1 - ln s^2), summed over dimensions.
    mean = np.array([[1.0, -0.5]], dtype=np.float32)
    log_var = np.array([[np.log(2.0), 0.0]], dtype=np.float32)
    by_hand = 0.5 * (2.0 + 1.0 - 1.0 - np.log(2.0)) + 0.5 * (1.0 + 0.25 - 1.0 - 0.0)
    kl = keras.ops.convert_to_numpy(kl_divergence(mean, log_var))
    np.testing.assert_allclose(kl, [by_hand], rtol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", ["sparse", "conv", "vae"])  # sparse: its L1 penalty joins the loss
def test_mixed_precision_computes_in_half_precision_and_keeps_the_loss_float32(name, policy, raw_params, sample):
    from dataclasses import replace

    from mnist_ae.training import compile_autoencoder

    params = parse_params(raw_params)
    model_params, train = typed_blocks(params.train), replace(params.train, precision=policy, steps_per_execution=1)
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = build(name, model_params[name], seed=0)
        compile_autoencoder(model, train)
        x = as_model_input(model, sample["x_train"][:64].astype(np.float32) / 255.0)
        history = model.fit(x, x, epochs=1, batch_size=32, verbose=0)
    finally:
        keras.config.set_dtype_policy("float32")
    hidden = encoder_of(model).layers[1]
    assert hidden.compute_dtype == policy.removeprefix("mixed_") and hidden.variable_dtype == "float32"
    assert model.predict(x[:4], verbose=0).dtype == np.float32  # the reconstruction layer stays float32
    assert np.isfinite(history.history["loss"][0])
    # float16 needs loss scaling, which Keras adds and the VAE's own train_step applies.
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")

