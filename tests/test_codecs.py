"""The codec layer every model and baseline is scored through, and the digit classifier that judges
generated codes, on the shipped MNIST sample: values that a wrong formula or a swapped argument changes."""

import numpy as np
import pytest

from mnist_ae import codecs
from mnist_ae.files import Split

SEED = 3


@pytest.fixture(scope="module")
def splits(sample) -> tuple[Split, Split]:
    scale = lambda images: (images / 255.0).astype(np.float32)  # noqa: E731 (what prepare does)
    return Split(scale(sample["x_train"]), sample["y_train"]), Split(scale(sample["x_test"]), sample["y_test"])


def test_pca_codec_reconstructs_better_with_more_components(splits):
    train, test = splits
    errors = []
    for components in (4, 32):
        codec = codecs.pca_codec(codecs.fit_pca(train.x, components, SEED))
        assert codec.code_size == components and codec.param_count == components * 784 + 784
        codes = codec.encode(test.x[:50])
        assert codes.shape == (50, components)
        reconstruction = codec.reconstruct(test.x[:50])
        assert reconstruction.shape == (50, 28, 28) and reconstruction.min() >= 0 and reconstruction.max() <= 1
        errors.append(float(np.mean((reconstruction - test.x[:50]) ** 2)))
    assert errors[1] < errors[0]


def test_random_codes_follow_their_prior():
    rng = np.random.default_rng(0)
    uniform = codecs.sample_codes("uniform", (4,), 5000, rng)
    normal = codecs.sample_codes("normal", (2,), 5000, rng)
    assert uniform.shape == (5000, 4) and 0 <= uniform.min() and uniform.max() < 1
    assert abs(float(normal.mean())) < 0.05 and abs(float(normal.std()) - 1) < 0.05
    with pytest.raises(ValueError, match="unknown code prior 'cauchy'"):
        codecs.sample_codes("cauchy", (2,), 1, rng)


def test_robustness_curve_falls_as_the_noise_grows_and_is_seeded(splits):
    _, test = splits
    curve = codecs.robustness_curve(codecs.identity, test.x[:100], [0.1, 0.5, 0.9], SEED)
    assert list(curve["noise_factor"]) == [0.1, 0.5, 0.9]
    assert curve["psnr_db"].is_monotonic_decreasing and curve["ssim"].is_monotonic_decreasing
    again = codecs.robustness_curve(codecs.identity, test.x[:100], [0.1, 0.5, 0.9], SEED)
    assert again.equals(curve)


def test_the_floor_is_below_every_reconstruction_and_the_mean_image_is_poor(splits):
    train, test = splits
    floor = codecs.floor_metrics(test)["test"]["bce_nats"]
    mean_image = codecs.mean_image_metrics(train, test)["test"]
    pca = codecs.evaluate_codec(codecs.pca_codec(codecs.fit_pca(train.x, 32, SEED)), train, test,
                                np.clip(test.x + 0.3, 0, 1), probe_train_size=500, knn_neighbors=5, seed=SEED)
    assert 0 < floor < pca["test"]["bce_nats"] < mean_image["bce_nats"]
    assert pca["compression"] == pytest.approx(784 / 32)
    assert pca["probe"]["knn_acc"] > 0.6 and pca["probe"]["logreg_acc"] > 0.6  # PCA codes carry the digit


def test_the_classifier_is_a_softmax_and_accuracy_counts_the_labels_it_matches(sample):
    from mnist_ae.classifier import accuracy, build_classifier

    model = build_classifier()
    assert model.output_shape == (None, 10)
    digits = (sample["x_test"][:40] / 255.0).astype(np.float32)
    probabilities = model.predict(digits[..., None], verbose=0)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)  # a softmax over ten digits
    predicted = probabilities.argmax(axis=1)
    assert accuracy(model, Split(digits, predicted)) == 1.0  # every label the one it predicts
    assert accuracy(model, Split(digits, (predicted + 1) % 10)) == 0.0  # none of them
    half = np.where(np.arange(40) % 2 == 0, predicted, (predicted + 1) % 10)
    assert accuracy(model, Split(digits, half)) == 0.5


def test_a_trained_classifier_beats_chance_on_the_sample(splits):
    import keras

    from mnist_ae.classifier import accuracy, train_classifier
    from mnist_ae.config import ClassifierParams

    train, test = splits
    keras.utils.set_random_seed(SEED)
    model = train_classifier(Split(train.x[:1500], train.y[:1500]), Split(train.x[1500:], train.y[1500:]),
                             ClassifierParams(epochs=1, batch_size=64))
    assert accuracy(model, test) > 0.5  # chance is 0.1


@pytest.mark.parametrize("name", ["dense", "conv", "vae"])
def test_a_keras_model_is_scored_through_the_same_codec(name, raw_params, splits):
    """keras_codec: flat codes of the registry's code size, reconstructions in [0, 1] and, for the VAE,
    the mean code; evaluate_model adds generation and the family's extras."""
    from mnist_ae.classifier import build_classifier
    from mnist_ae.config import EvaluateParams, parse_params
    from mnist_ae.evaluation import evaluate_model, keras_codec
    from mnist_ae.models import block_of, build

    params = parse_params(raw_params)
    model = build(name, block_of(params.train, name), SEED)
    train, test = splits
    codec = keras_codec(model)
    codes = codec.encode(test.x[:20])
    assert codes.shape == (20, codec.code_size) and codec.param_count == model.count_params()
    both_ways = codec.reconstruct(test.x[:20])
    assert both_ways.shape == (20, 28, 28) and 0 <= both_ways.min() and both_ways.max() <= 1
    assert np.allclose(both_ways, codec.decode(codes), atol=1e-5)  # one pass or two, the same digits
    evaluate = EvaluateParams(probe_train_size=100, knn_neighbors=3, n_generated=20, confidence_threshold=0.9,
                              robustness_factors=[0.5])
    metrics = evaluate_model(name, model, build_classifier(), Split(train.x[:200], train.y[:200]),
                             Split(test.x[:50], test.y[:50]), test.x[:50], evaluate, SEED)
    assert {"test", "noisy_test", "probe", "generation"} <= set(metrics)
    assert ("elbo" in metrics) == (name == "vae")


def test_a_model_trained_in_bfloat16_is_scored_like_any_other(raw_params, splits):
    import keras

    from mnist_ae.classifier import build_classifier
    from mnist_ae.config import EvaluateParams, parse_params
    from mnist_ae.evaluation import evaluate_model
    from mnist_ae.models import block_of, build

    params = parse_params(raw_params)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build("dense", block_of(params.train, "dense"), SEED)
    finally:
        keras.config.set_dtype_policy("float32")
    train, test = splits
    evaluate = EvaluateParams(probe_train_size=100, knn_neighbors=3, n_generated=20, confidence_threshold=0.9,
                              robustness_factors=[0.5])
    metrics = evaluate_model("dense", model, build_classifier(), Split(train.x[:200], train.y[:200]),
                             Split(test.x[:50], test.y[:50]), test.x[:50], evaluate, SEED)
    assert 0.1 < metrics["probe"]["logreg_acc"] <= 1 and np.isfinite(metrics["test"]["bce_nats"])
