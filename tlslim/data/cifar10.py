"""CIFAR-10 from the official python release (https://www.cs.toronto.edu/~kriz/cifar.html).

`dataset_dir` may be the `cifar-10-batches-py` directory (`data_batch_1..5`, `test_batch`,
`batches.meta`), its parent, or the `cifar-10-python.tar.gz` tarball itself (read without
extracting). Each batch is a pickled dict: `b'data'` uint8 [n, 3072] rows holding the R, G
and B planes of a 32x32 image, `b'labels'` a list of n ints; `batches.meta` has `b'label_names'`.
The pickles are read with an unpickler that only builds dicts, lists, numbers, strings and
numpy arrays, so a doctored file cannot run code.
"""
import codecs
import io
import os
import pickle
import tarfile
import zlib

import numpy as np

from tlslim.data.dataset import Dataset
from tlslim.errors import TlslimError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
TARBALL = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"
ALL_FILES = TRAIN_FILES + TEST_FILES + (META_FILE,)
DEFAULT_DIR = "data"  # where scripts/download_cifar10.py puts it by default

_FIX = "delete it and run scripts/download_cifar10.py again"


def _allowed_globals():
    reconstruct = np.zeros(1).__reduce__()[0]
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): codecs.encode}  # py3 protocol-2 bytes
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = frombuffer
    return allowed


class _SafeUnpickler(pickle.Unpickler):
    _allowed = _allowed_globals()

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}") from None


def _unpickle(data, where):
    try:
        return _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:  # any unpickling failure means a damaged or foreign file
        raise TlslimError(f"cifar10: {where} is corrupt or truncated ({type(err).__name__}: "
                          f"{' '.join(str(err).split())[:80]}); {_FIX}.") from None


def _get(d, key):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    return None


def _parse_batch(data, where, num_classes):
    d = _unpickle(data, where)
    rows = _get(d, "data") if isinstance(d, dict) else None
    labels = _get(d, "labels") if isinstance(d, dict) else None
    if rows is None or labels is None:
        raise TlslimError(f"cifar10: {where} is not a CIFAR-10 batch (no 'data'/'labels'); {_FIX}.")
    try:
        rows = np.asarray(rows)
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise TlslimError(f"cifar10: {where} has labels that are not integers; {_FIX}.") from None
    if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != 3072 or labels.shape != rows.shape[:1]:
        raise TlslimError(f"cifar10: {where} holds data {rows.dtype} {rows.shape} and {labels.shape[0]} "
                          f"labels, expected uint8 [n, 3072] and n labels; {_FIX}.")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise TlslimError(f"cifar10: {where} has labels outside 0..{num_classes - 1}; {_FIX}.")
    images = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # planes -> HWC
    return images, labels


def _parse_meta(data, where):
    d = _unpickle(data, where)
    names = _get(d, "label_names") if isinstance(d, dict) else None
    if not isinstance(names, list) or not names:
        raise TlslimError(f"cifar10: {where} has no label_names; {_FIX}.")
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]


class _DirReader:
    def __init__(self, path):
        self.path = path

    def check(self, names):
        missing = [n for n in names if not os.path.isfile(os.path.join(self.path, n))]
        if missing:
            raise TlslimError(f"cifar10: {self.path} lacks {', '.join(missing)}; "
                              "run scripts/download_cifar10.py to fetch the full release.")

    def read(self, name):
        with open(os.path.join(self.path, name), "rb") as f:
            return f.read()

    def where(self, name):
        return os.path.join(self.path, name)


class _TarReader:
    """Reads members straight from the tarball in one forward pass (gzip cannot seek back cheaply)."""

    def __init__(self, path):
        self.path = path
        self.names = {}

    def read_all(self, names):
        wanted, found = set(names), {}
        try:
            with tarfile.open(self.path, "r:*") as tar:
                for member in tar:
                    base = os.path.basename(member.name)
                    if member.isfile() and base in wanted and base not in found:
                        found[base] = tar.extractfile(member).read()
                        self.names[base] = member.name
        except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
            raise TlslimError(f"cifar10: {self.path} is not a readable tarball or is truncated "
                              f"({err}); {_FIX}.") from None
        missing = [n for n in names if n not in found]
        if missing:
            raise TlslimError(f"cifar10: tarball {self.path} lacks {', '.join(missing)}; "
                              f"it is not {TARBALL}: {_FIX}.")
        return found

    def where(self, name):
        return f"{self.path}:{self.names.get(name, name)}"


def locate(dataset_dir=None):
    """('dir', batches directory) or ('tarball', path) for a `dataset_dir` as `load` accepts it."""
    path = DEFAULT_DIR if dataset_dir is None else os.path.expanduser(str(dataset_dir))
    if os.path.isfile(path):
        return "tarball", path
    if not os.path.isdir(path):
        raise TlslimError(f"cifar10: {path} does not exist; run scripts/download_cifar10.py "
                          f"--dest {path} or pass --dataset_dir with the CIFAR-10 python files.")
    if set(ALL_FILES) & set(os.listdir(path)):
        return "dir", path
    if os.path.isdir(os.path.join(path, BATCHES_DIR)):
        return "dir", os.path.join(path, BATCHES_DIR)
    if os.path.isfile(os.path.join(path, TARBALL)):
        return "tarball", os.path.join(path, TARBALL)
    raise TlslimError(f"cifar10: {path} holds no CIFAR-10 python files (expected {BATCHES_DIR}/, "
                      f"{TARBALL} or data_batch_1..5, test_batch, batches.meta); run "
                      f"scripts/download_cifar10.py --dest {path}.")


def _reader(dataset_dir):
    kind, path = locate(dataset_dir)
    return _TarReader(path) if kind == "tarball" else _DirReader(path)


def load(dataset_dir=None, split="train"):
    """The CIFAR-10 `split` ('train': 50000, 'test': 10000 images) as a Dataset."""
    files = TRAIN_FILES if split == "train" else TEST_FILES
    reader = _reader(dataset_dir)
    if isinstance(reader, _TarReader):
        read = reader.read_all(files + (META_FILE,)).__getitem__
    else:
        reader.check(files + (META_FILE,))
        read = reader.read
    class_names = _parse_meta(read(META_FILE), reader.where(META_FILE))
    parts = [_parse_batch(read(name), reader.where(name), len(class_names)) for name in files]
    images = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
    labels = np.concatenate([p[1] for p in parts])
    return Dataset(images, labels, class_names, "cifar10")
