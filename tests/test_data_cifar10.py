"""CIFAR-10 python-release loading from format-exact synthetic files, and scripts/download_cifar10.py."""
import hashlib
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from tlslim import data
from tlslim.data import cifar10
from tlslim.errors import TlslimError
from tlslim.testing import datasets
from tlslim.testing.http import serve_directory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "download_cifar10.py")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    batches, arrays = datasets.write_cifar10_batches(str(root / "extracted"), per_batch=20, num_test=30)
    tarball = root / "cifar-10-python.tar.gz"
    assert datasets.write_cifar10_tarball(str(tarball), per_batch=20, num_test=30)["test_labels"].tolist() \
        == arrays["test_labels"].tolist()
    return {"batches": batches, "parent": str(root / "extracted"), "tarball": str(tarball), "arrays": arrays}


def test_writer_matches_the_documented_layout(release):
    # Independent of the loader: plain pickle.load as the CIFAR page shows it.
    with open(os.path.join(release["batches"], "data_batch_2"), "rb") as f:
        raw = f.read()
    assert raw[:2] == b"\x80\x02"  # Python 2 cPickle, protocol 2
    d = pickle.loads(raw, encoding="bytes")
    assert sorted(d) == [b"batch_label", b"data", b"filenames", b"labels"]
    assert d[b"data"].dtype == np.uint8 and d[b"data"].shape == (20, 3072)
    image = release["arrays"]["train_images"][20]  # first image of batch 2
    assert d[b"data"][0, :1024].tolist() == image[..., 0].reshape(-1).tolist()  # R plane, row-major
    assert d[b"data"][0, 2048:].tolist() == image[..., 2].reshape(-1).tolist()  # B plane
    with open(os.path.join(release["batches"], "batches.meta"), "rb") as f:
        meta = pickle.load(f, encoding="bytes")
    assert meta[b"label_names"][0] == b"airplane" and meta[b"num_vis"] == 3072


@pytest.mark.parametrize("where", ["batches", "parent", "tarball"])
def test_load_exact_arrays(release, where):
    arrays = release["arrays"]
    train = data.load("cifar10", release[where], split="train")
    test = data.load("cifar10", release[where], split="test")
    assert train.name == "cifar10"
    assert train.class_names == list(datasets.CIFAR10_LABEL_NAMES)
    assert train.images.dtype == np.uint8 and train.images.shape == (100, 32, 32, 3)
    assert train.labels.dtype == np.int64
    np.testing.assert_array_equal(train.images, arrays["train_images"])
    np.testing.assert_array_equal(train.labels, arrays["train_labels"])
    np.testing.assert_array_equal(test.images, arrays["test_images"])
    np.testing.assert_array_equal(test.labels, arrays["test_labels"])


def test_dir_holding_the_tarball(release, tmp_path):
    os.symlink(release["tarball"], tmp_path / cifar10.TARBALL)
    test = data.load("cifar10", str(tmp_path), split="test")
    np.testing.assert_array_equal(test.images, release["arrays"]["test_images"])


def test_train_subset_per_class_seeded_and_nested(release):
    full = data.load("cifar10", release["batches"])
    small = data.load("cifar10", release["batches"], train_subset=3, seed=1)
    larger = data.load("cifar10", release["batches"], train_subset=7, seed=1)
    other = data.load("cifar10", release["batches"], train_subset=3, seed=2)
    assert np.bincount(small.labels, minlength=10).tolist() == [3] * 10
    assert np.bincount(larger.labels, minlength=10).tolist() == [7] * 10

    def rows(ds):  # images identify rows: random 3072-byte images are unique
        return {img.tobytes() for img in ds.images}
    assert rows(small) <= rows(larger) <= rows(full)
    assert rows(small) != rows(other)
    again = data.load("cifar10", release["batches"], train_subset=3, seed=1)
    np.testing.assert_array_equal(again.images, small.images)
    # Labels still match their images.
    lookup = {img.tobytes(): lab for img, lab in zip(full.images, full.labels)}
    assert all(lookup[img.tobytes()] == lab for img, lab in zip(small.images, small.labels))
    # The test split ignores train_subset.
    assert len(data.load("cifar10", release["batches"], split="test", train_subset=1)) == 30


def test_train_subset_larger_than_a_class_takes_all(release, caplog):
    big = data.load("cifar10", release["batches"], train_subset=50)
    assert len(big) == 100
    assert "fewer images" in caplog.text


def _copy_release(release, dest):
    os.makedirs(dest)
    for name in cifar10.ALL_FILES:
        with open(os.path.join(release["batches"], name), "rb") as f, open(os.path.join(dest, name), "wb") as g:
            g.write(f.read())
    return dest


def test_missing_inputs_give_one_line_errors(release, tmp_path):
    with pytest.raises(TlslimError, match=r"does not exist; run scripts/download_cifar10.py") as err:
        data.load("cifar10", str(tmp_path / "nowhere"))
    assert "\n" not in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TlslimError, match="holds no CIFAR-10 python files"):
        data.load("cifar10", str(tmp_path / "empty"))
    partial = _copy_release(release, str(tmp_path / "partial"))
    os.remove(os.path.join(partial, "data_batch_4"))
    with pytest.raises(TlslimError, match=r"lacks data_batch_4; run scripts/download_cifar10.py"):
        data.load("cifar10", partial)
    assert len(data.load("cifar10", partial, split="test")) == 30  # the test split is complete


@pytest.mark.parametrize("damage,message", [
    (lambda raw: raw[: len(raw) // 2], "data_batch_3 is corrupt or truncated"),
    (lambda raw: b"", "data_batch_3 is corrupt or truncated"),
    (lambda raw: pickle.dumps([1, 2, 3], protocol=2), "data_batch_3 is not a CIFAR-10 batch"),
    (lambda raw: pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),
     r"holds data uint8 \(2, 100\)"),
    (lambda raw: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}),
     "labels outside 0..9"),
    # A pickle that would run a command when loaded with plain pickle.load.
    (lambda raw: b"cos\nsystem\n(S'echo pwned'\ntR.", r"corrupt or truncated \(UnpicklingError: unexpected object os.system"),
])
def test_corrupt_batch(release, tmp_path, damage, message):
    copy = _copy_release(release, str(tmp_path / "copy"))
    path = os.path.join(copy, "data_batch_3")
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(damage(raw))
    with pytest.raises(TlslimError, match=message) as err:
        data.load("cifar10", copy)
    assert "\n" not in str(err.value)


def test_python3_pickles_load_too(release, tmp_path):
    # Batches re-saved with today's pickle (numpy._core paths, protocol 2 and 5) read the same.
    copy = _copy_release(release, str(tmp_path / "copy"))
    for name, protocol in (("data_batch_1", 2), ("test_batch", 5)):
        path = os.path.join(copy, name)
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        with open(path, "wb") as f:
            pickle.dump(d, f, protocol=protocol)
    test = data.load("cifar10", copy, split="test")
    np.testing.assert_array_equal(test.images, release["arrays"]["test_images"])
    train = data.load("cifar10", copy)
    np.testing.assert_array_equal(train.images, release["arrays"]["train_images"])


def test_truncated_tarball(release, tmp_path):
    with open(release["tarball"], "rb") as f:
        raw = f.read()
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(TlslimError, match="cifar10: .* not a readable tarball or is truncated"):
        data.load("cifar10", str(bad))


def test_tarball_lacking_a_member(tmp_path):
    import io
    import tarfile
    files = datasets.cifar10_files(datasets.cifar10_arrays(per_batch=10, num_test=10))
    path = tmp_path / "partial.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for rel, raw in files.items():
            if not rel.endswith("test_batch"):
                info = tarfile.TarInfo(rel)
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
    assert len(data.load("cifar10", str(path))) == 50
    with pytest.raises(TlslimError, match=r"tarball .*partial.tar.gz lacks test_batch; it is not cifar-10-python"):
        data.load("cifar10", str(path), split="test")


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


@pytest.fixture(scope="module")
def runs(release, tmp_path_factory):
    """Every script invocation of this file, run concurrently (each pays TensorFlow's import)."""
    out = tmp_path_factory.mktemp("runs")
    md5 = _md5(release["tarball"])
    env = dict(os.environ, PYTHONPATH="")  # the script must find tlslim from the clone itself
    with serve_directory(os.path.dirname(release["tarball"])) as base_url:
        url = base_url + cifar10.TARBALL
        cases = {
            "http": ["--url", url, "--md5", md5, "--dest", str(out / "http")],
            "http_official_md5": ["--url", url, "--dest", str(out / "bad")],
            "from_tarball": ["--from", release["tarball"], "--md5", md5, "--dest", str(out / "a")],
            "from_dir": ["--from", release["parent"], "--dest", str(out / "b")],
            "from_missing": ["--from", str(out / "nothing.tar.gz"), "--dest", str(out / "c")],
        }
        procs = {name: subprocess.Popen([sys.executable, SCRIPT, *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=env)
                 for name, args in cases.items()}
        results = {}
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=600)
            results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return out, md5, results


def _last_line(text):
    return text.strip().splitlines()[-1]


def test_download_script_over_local_http(release, runs):
    out, md5, results = runs
    result = results["http"]
    assert result.returncode == 0, result.stderr
    assert "100.0%" in result.stderr  # the progress line
    assert "100 train and 30 test images" in result.stdout
    assert not os.path.exists(out / "http" / cifar10.TARBALL)  # removed after extracting
    test = data.load("cifar10", str(out / "http"), split="test")
    np.testing.assert_array_equal(test.images, release["arrays"]["test_images"])


def test_download_script_wrong_md5_fails_cleanly(runs):
    out, md5, results = runs
    bad = results["http_official_md5"]  # the test tarball is not the official release
    assert bad.returncode == 2
    assert _last_line(bad.stderr) == (
        f"error: {bad.args[3]} downloaded with MD5 {md5}, expected {cifar10.MD5}; the file was "
        "removed; run again, or pass --from PATH with a good copy.")
    assert not os.path.exists(out / "bad" / "cifar-10-batches-py")
    assert not os.path.exists(out / "bad" / cifar10.TARBALL)
    assert not os.path.exists(out / "bad" / (cifar10.TARBALL + ".part"))


def test_download_script_from_path(release, runs):
    out, md5, results = runs
    ok = results["from_tarball"]
    assert ok.returncode == 0, ok.stderr
    train = data.load("cifar10", str(out / "a" / "cifar-10-batches-py"))
    np.testing.assert_array_equal(train.labels, release["arrays"]["train_labels"])
    np.testing.assert_array_equal(train.images, release["arrays"]["train_images"])
    assert os.path.exists(release["tarball"])  # a --from file is never removed

    from_dir = results["from_dir"]
    assert from_dir.returncode == 0, from_dir.stderr
    test = data.load("cifar10", str(out / "b"), split="test")
    np.testing.assert_array_equal(test.images, release["arrays"]["test_images"])

    missing = results["from_missing"]
    assert missing.returncode == 2
    assert _last_line(missing.stderr) == (
        f"error: --from {out / 'nothing.tar.gz'}: no such file or directory; give the path of "
        "cifar-10-python.tar.gz or of an extracted cifar-10-batches-py.")
