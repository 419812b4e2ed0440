"""Make tests/data/mnist_sample.npz: the first 2,000 training and 500 test digits of the fetched MNIST.

Run once from the repository root after `dvc repro fetch`:  python tests/data/make_sample.py
"""

from pathlib import Path

import numpy as np

N_TRAIN, N_TEST = 2000, 500

raw = np.load("data/raw/mnist.npz")
sample = {"x_train": raw["x_train"][:N_TRAIN], "y_train": raw["y_train"][:N_TRAIN],
          "x_test": raw["x_test"][:N_TEST], "y_test": raw["y_test"][:N_TEST]}
np.savez_compressed(Path(__file__).with_name("mnist_sample.npz"), **sample)
