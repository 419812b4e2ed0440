"""The variational autoencoder of notebook §2, in the Keras 3 idiom.

Keras 3 has no symbolic ``add_loss`` on functional models, so the loss lives in a
``keras.Model`` subclass with ``train_step`` / ``test_step`` and named trackers
(as in keras-io ``examples/generative/vae.py``). Both classes are registered, so a
trained VAE round-trips through a ``.keras`` file.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from mnist_ae.models import VAEParams
from mnist_ae.models.base import OUTPUT_DTYPE, PIXELS

PACKAGE = "mnist_ae"


def kl_divergence(z_mean, z_log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per example, summed over latent dimensions."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Sampling(layers.Layer):
    """Reparameterised draw z = mean + exp(log_var / 2) * eps, seeded for reproducibility."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}

    # Keras saves layer weights but not seed-generator states; saving this one too lets a training
    # run resumed from a checkpoint draw the same noise as an uninterrupted run.
    def save_own_variables(self, store):
        store["seed_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        if "seed_state" in store:
            self.seed_generator.state.assign(store["seed_state"][...])


@keras.saving.register_keras_serializable(package=PACKAGE)
class VAE(keras.Model):
    """Encoder -> (z_mean, z_log_var) -> sampled z -> decoder; loss = 784 x BCE + KL.

    ``call`` decodes ``z_mean``, so predictions are deterministic; training and
    validation sample z and report the total, reconstruction and KL terms.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.seed = seed
        self.sampling = Sampling(seed=seed, name="z", dtype=OUTPUT_DTYPE)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        self.bce_tracker = keras.metrics.Mean(name="bce")  # per pixel, comparable with the other models

    @property
    def metrics(self):
        return [self.reconstruction_tracker, self.kl_tracker, self.bce_tracker]

    def call(self, inputs):
        z_mean, _ = self.encoder(inputs)
        return self.decoder(z_mean)

    def build(self, input_shape):
        # The encoder and decoder are functional models, built when they were made.
        self.built = True

    def compile(self, optimizer="adam", **kwargs):
        # The loss and its trackers are defined by the model itself.
        kwargs.pop("loss", None)
        kwargs.pop("metrics", None)
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        optimizer = keras.saving.deserialize_keras_object(config["optimizer"])
        self.compile(optimizer=optimizer)
        self.optimizer.build(self.trainable_variables)  # so its saved state loads too

    def loss_terms(self, inputs, targets, training: bool = False):
        """Batch means of (total, reconstruction, KL), in nats per image."""
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.sampling([z_mean, z_log_var])
        reconstruction = self.decoder(z, training=training)
        flat_targets = ops.reshape(targets, (-1, PIXELS))
        flat_outputs = ops.reshape(reconstruction, (-1, PIXELS))
        recon = ops.mean(PIXELS * keras.losses.binary_crossentropy(flat_targets, flat_outputs))
        kl = ops.mean(kl_divergence(z_mean, z_log_var))
        return recon + kl, recon, kl

    def train_step(self, data):
        inputs, targets = _inputs_and_targets(data)
        with tf.GradientTape() as tape:
            total, recon, kl = self.loss_terms(inputs, targets, training=True)
            # The gradients of every replica are summed, so each takes its share of the batch mean;
            # scale_loss applies the loss scale of mixed float16 (a no-op otherwise).
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(total / replicas if replicas > 1 else total)
        gradients = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._track(recon, kl)

    def test_step(self, data):
        inputs, targets = _inputs_and_targets(data)
        _, recon, kl = self.loss_terms(inputs, targets)
        return self._track(recon, kl)

    def _track(self, recon, kl):
        self.reconstruction_tracker.update_state(recon)
        self.kl_tracker.update_state(kl)
        self.bce_tracker.update_state(recon / PIXELS)
        # The logged total is the sum of the two running means rather than a tracker of its own:
        # a separate Mean of ``total`` varied in the 7th digit run to run while both terms did not.
        running = {m.name: m.result() for m in self.metrics}
        return {"loss": running["reconstruction_loss"] + running["kl_loss"], **running}

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)


def _inputs_and_targets(data):
    """``fit(x, y)`` gives (x, y); ``fit(x)`` gives x alone, which is then its own target."""
    if isinstance(data, (tuple, list)):
        return data[0], data[1] if len(data) > 1 and data[1] is not None else data[0]
    return data, data


def build(params: VAEParams, seed: int) -> keras.Model:
    """784 -> 512 -> (z_mean, z_log_var) in 2-D; 2 -> 512 -> 784 sigmoid."""
    inputs = keras.Input((PIXELS,), name="pixels")
    h = layers.Dense(params.hidden, activation="relu", name="hidden")(inputs)
    z_mean = layers.Dense(params.latent_dim, name="z_mean", dtype=OUTPUT_DTYPE)(h)
    z_log_var = layers.Dense(params.latent_dim, name="z_log_var", dtype=OUTPUT_DTYPE)(h)  # exp() overflows in float16
    encoder = keras.Model(inputs, [z_mean, z_log_var], name="encoder")

    code_in = keras.Input((params.latent_dim,), name="code")
    h = layers.Dense(params.hidden, activation="relu", name="hidden")(code_in)
    outputs = layers.Dense(PIXELS, activation="sigmoid", name="reconstruction", dtype=OUTPUT_DTYPE)(h)
    decoder = keras.Model(code_in, outputs, name="decoder")

    vae = VAE(encoder, decoder, seed=seed, name="vae")
    vae(ops.zeros((1, PIXELS)))  # build, so the parameter count is known before training
    return vae


IWAE_SAMPLES = 100  # importance samples per test digit for the bound on -log p(x)
IWAE_STREAM = 11  # its random stream, drawn from the model's seed (base.seed)
IWAE_BATCH = 100  # digits per pass: 100 x 100 decoded samples at a time


def elbo_metrics(model: VAE, x: np.ndarray, batch_size: int = 1000) -> dict:
    """The "elbo" section of the metrics, in nats per image: the test negative ELBO and its two terms,
    and the importance-weighted bound on -log p(x) (Burda et al., 2016) with IWAE_SAMPLES samples."""
    totals = np.zeros(3)
    for start in range(0, len(x), batch_size):
        batch = ops.convert_to_tensor(x[start : start + batch_size].reshape(-1, PIXELS))
        terms = model.loss_terms(batch, batch)
        totals += len(batch) * np.array([float(t) for t in terms])
    total, recon, kl = totals / len(x)
    rng = np.random.default_rng([model.seed or 0, IWAE_STREAM])
    return {"elbo": {"neg_elbo_nats": total, "reconstruction_nats": recon, "kl_nats": kl,
                     "iwae_nll_nats": float(iwae_nll(model, x, IWAE_SAMPLES, rng).mean()),
                     "iwae_samples": IWAE_SAMPLES}}


def iwae_nll(model: VAE, x: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Per digit, -log of the importance-weighted estimate of p(x) from ``samples`` draws of q(z|x).

    log p(x) >= E[log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)], tighter as k grows; k = 1 is the ELBO.
    p(x|z) is the Bernoulli likelihood of the (continuous) pixels, as the training loss uses it.
    """
    nll = []
    for start in range(0, len(x), IWAE_BATCH):
        batch = np.asarray(x[start : start + IWAE_BATCH], dtype=np.float32).reshape(-1, PIXELS)
        z_mean, z_log_var = (np.asarray(t, dtype=np.float64) for t in model.encoder(batch))
        eps = rng.standard_normal((samples, *z_mean.shape))
        z = z_mean + np.exp(0.5 * z_log_var) * eps  # (k, n, d)
        decoded = np.asarray(model.decoder(z.reshape(-1, z.shape[-1]).astype(np.float32)), dtype=np.float64)
        decoded = np.clip(decoded.reshape(samples, len(batch), PIXELS), 1e-7, 1.0 - 1e-7)  # as Keras clips
        log_px_z = (batch * np.log(decoded) + (1.0 - batch) * np.log(1.0 - decoded)).sum(axis=-1)
        log_pz = -0.5 * (np.square(z) + np.log(2.0 * np.pi)).sum(axis=-1)
        log_qz = -0.5 * (np.square(eps) + np.log(2.0 * np.pi) + z_log_var).sum(axis=-1)
        log_w = log_px_z + log_pz - log_qz
        top = log_w.max(axis=0)
        nll.append(-(top + np.log(np.exp(log_w - top).mean(axis=0))))
    return np.concatenate(nll)
