"""Score a trained Keras autoencoder: wrap it as a Codec, add generation quality and its family's extras."""

from __future__ import annotations

import keras
import numpy as np

from mnist_ae.codecs import SAMPLES_STREAM, Codec, evaluate_codec, sample_codes
from mnist_ae.config import EvaluateParams
from mnist_ae.files import Split
from mnist_ae.metrics import generation_quality
from mnist_ae.models import as_model_input, code_shape, decoder_of, encoder_of, extra_metrics, get_spec
from mnist_ae.noise import rng_for

PREDICT_BATCH = 1000  # 2,500 measured ~1.6x faster for the denoiser alone but raised its stage to 2.2 GiB


def keras_codec(model: keras.Model) -> Codec:
    encoder, decoder = encoder_of(model), decoder_of(model)
    shape = code_shape(model)

    def encode(images):
        codes = encoder.predict(as_model_input(model, images), batch_size=PREDICT_BATCH, verbose=0)
        if isinstance(codes, (list, tuple)):  # a VAE's encoder gives (z_mean, z_log_var): use the mean
            codes = codes[0]
        # float32 whatever the training precision: scikit-learn's probes reject bfloat16 codes
        return np.asarray(codes, dtype=np.float32).reshape(len(images), -1)

    def decode(codes):
        output = decoder.predict(codes.reshape((-1, *shape)), batch_size=PREDICT_BATCH, verbose=0)
        return output.reshape(-1, 28, 28)

    def encode_decode(images):  # the VAE's call decodes the mean code too
        return model.predict(as_model_input(model, images), batch_size=PREDICT_BATCH, verbose=0).reshape(-1, 28, 28)

    return Codec(encode, decode, int(np.prod(shape)), model.count_params(), encode_decode)


def evaluate_model(name: str, model: keras.Model, classifier: keras.Model, train: Split, test: Split,
                   noisy_test: np.ndarray, evaluate_params: EvaluateParams, seed: int) -> dict:
    """All test metrics of one registered model: the shared ones, generation and its extras."""
    spec = get_spec(name)
    codec = keras_codec(model)
    metrics = evaluate_codec(codec, train, test, noisy_test, evaluate_params.probe_train_size,
                             evaluate_params.knn_neighbors, seed)
    codes = sample_codes(spec.code_prior, code_shape(model), evaluate_params.n_generated, rng_for(seed, SAMPLES_STREAM))
    samples = codec.decode(codes)
    probabilities = classifier.predict(samples[..., None], batch_size=PREDICT_BATCH, verbose=0)
    metrics["generation"] = generation_quality(probabilities, evaluate_params.confidence_threshold)
    metrics.update(extra_metrics(name, model, test.x))  # e.g. the VAE's "elbo" section
    return metrics
