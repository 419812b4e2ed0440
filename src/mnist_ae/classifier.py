"""A small CNN digit classifier, the judge of whether decoded random codes look like digits."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from mnist_ae.config import ClassifierParams
from mnist_ae.files import Split
from mnist_ae.runtime import progress_verbosity


def build_classifier() -> keras.Model:
    inputs = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.5)(layers.Flatten()(x))
    outputs = layers.Dense(10, activation="softmax", name="digit")(x)
    return keras.Model(inputs, outputs, name="classifier")


def train_classifier(train: Split, val: Split, params: ClassifierParams) -> keras.Model:
    model = build_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train.x[..., None], train.y, validation_data=(val.x[..., None], val.y),
              epochs=params.epochs, batch_size=params.batch_size, verbose=progress_verbosity())
    return model


def accuracy(model: keras.Model, split: Split) -> float:
    predictions = model.predict(split.x[..., None], batch_size=1000, verbose=0).argmax(axis=1)
    return float(np.mean(predictions == split.y))
