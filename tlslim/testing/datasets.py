"""Writers of dataset files in their exact real formats, with SYNTHETIC content, for tests.

- `write_cifar10_batches(directory)` writes `cifar-10-batches-py/` as the official CIFAR-10
  python release lays it out (`data_batch_1..5`, `test_batch`, `batches.meta`, `readme.html`).
  The batches are protocol-2 pickles written opcode by opcode the way Python 2's cPickle wrote
  the release (py2 `str` keys, a `numpy.core.multiarray._reconstruct` array of uint8 rows of
  3072 in R,G,B planes, `labels` a list of ints), so the loader is tested against that format,
  not against whatever today's pickle emits. The pixels are random noise, the file names say
  "synthetic" and `readme.html` says these are not CIFAR-10 images.
- `write_cifar10_tarball(path)` packs the same into `cifar-10-python.tar.gz`.
- `write_image_folder(directory, counts)` writes one sub-folder per class of PNG/JPEG images
  (synthetic noise), with a stray non-image file.
"""
import io
import os
import struct
import tarfile

import numpy as np

CIFAR10_LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
                       "dog", "frog", "horse", "ship", "truck")
SYNTHETIC_NOTE = ("SYNTHETIC stand-in written by tlslim.testing.datasets for tests: random pixels "
                  "in the CIFAR-10 python format. These are not CIFAR-10 images.")


# --- A Python-2-style (cPickle, protocol 2) pickle writer for the few types the release uses.

def _py2_str(value):
    data = value if isinstance(value, bytes) else value.encode("latin-1")
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data  # SHORT_BINSTRING
    return b"T" + struct.pack("<i", len(data)) + data  # BINSTRING


def _py2_int(value):
    if 0 <= value < 256:
        return b"K" + bytes([value])  # BININT1
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)  # BININT2
    return b"J" + struct.pack("<i", value)  # BININT


def _py2_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _py2_uint8_array(array):
    # numpy 1.x under Python 2: _reconstruct(ndarray, (0,), 'b') then BUILD with
    # (version, shape, dtype, is_fortran, raw bytes); the dtype itself is dtype('u1', 0, 1) + state.
    assert array.dtype == np.uint8
    dtype = (_py2_global("numpy", "dtype") + _py2_str("u1") + _py2_int(0) + _py2_int(1) + b"\x87R"
             + b"(" + _py2_int(3) + _py2_str("|") + b"NNN" + struct.pack("<ci", b"J", -1)
             + struct.pack("<ci", b"J", -1) + _py2_int(0) + b"tb")
    shape = b"(" + b"".join(_py2_int(d) for d in array.shape) + b"t"
    return (_py2_global("numpy.core.multiarray", "_reconstruct") + _py2_global("numpy", "ndarray")
            + _py2_int(0) + b"\x85" + _py2_str("b") + b"\x87R"
            + b"(" + _py2_int(1) + shape + dtype + b"\x89" + _py2_str(array.tobytes()) + b"tb")


def _py2_value(value):
    if isinstance(value, np.ndarray):
        return _py2_uint8_array(value)
    if isinstance(value, (bytes, str)):
        return _py2_str(value)
    if isinstance(value, (int, np.integer)):
        return _py2_int(int(value))
    if isinstance(value, list):
        return b"](" + b"".join(_py2_value(v) for v in value) + b"e"  # EMPTY_LIST MARK ... APPENDS
    raise TypeError(f"no py2 pickle for {type(value)}")


def py2_pickle_dict(items):
    """Bytes of a Python 2 cPickle protocol-2 pickle of the dict `items` (ordered pairs)."""
    body = b"".join(_py2_str(k) + _py2_value(v) for k, v in items)
    return b"\x80\x02}(" + body + b"u."


# --- CIFAR-10 python release writers.

def cifar10_arrays(per_batch=20, num_test=20, seed=0):
    """Synthetic arrays in the loader's layout: train/test images uint8 [N,32,32,3], labels int64.

    Every batch holds each of the 10 labels `per_batch // 10` times (in a shuffled order).
    """
    rng = np.random.default_rng(seed)

    def part(n):
        labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
        return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), labels

    train = [part(per_batch) for _ in range(5)]
    test_images, test_labels = part(num_test)
    return {"train_images": np.concatenate([t[0] for t in train]),
            "train_labels": np.concatenate([t[1] for t in train]),
            "test_images": test_images, "test_labels": test_labels,
            "label_names": list(CIFAR10_LABEL_NAMES)}


def _batch_bytes(images, labels, batch_label, first_index):
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # R plane, G plane, B plane
    filenames = [f"synthetic_{first_index + i:06d}.png" for i in range(len(images))]
    return py2_pickle_dict([("batch_label", batch_label), ("labels", [int(x) for x in labels]),
                            ("data", np.ascontiguousarray(rows)), ("filenames", filenames)])


def cifar10_files(arrays):
    """{relative path: bytes} of the release's files (under `cifar-10-batches-py/`) for `arrays`."""
    n = len(arrays["train_images"]) // 5
    files = {}
    for b in range(5):
        s = slice(b * n, (b + 1) * n)
        files[f"data_batch_{b + 1}"] = _batch_bytes(
            arrays["train_images"][s], arrays["train_labels"][s],
            f"training batch {b + 1} of 5 (synthetic)", b * n)
    files["test_batch"] = _batch_bytes(arrays["test_images"], arrays["test_labels"],
                                       "testing batch 1 of 1 (synthetic)", 5 * n)
    files["batches.meta"] = py2_pickle_dict([("num_cases_per_batch", n),
                                             ("label_names", list(arrays["label_names"])),
                                             ("num_vis", 3072)])
    files["readme.html"] = f"<html><body><p>{SYNTHETIC_NOTE}</p></body></html>\n".encode()
    return {"cifar-10-batches-py/" + k: v for k, v in files.items()}


def write_cifar10_batches(directory, per_batch=20, num_test=20, seed=0):
    """Write `<directory>/cifar-10-batches-py/`; return (that path, the arrays it holds)."""
    arrays = cifar10_arrays(per_batch, num_test, seed)
    for rel, data in cifar10_files(arrays).items():
        path = os.path.join(directory, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return os.path.join(directory, "cifar-10-batches-py"), arrays


def write_cifar10_tarball(path, per_batch=20, num_test=20, seed=0):
    """Write a `cifar-10-python.tar.gz`-format tarball at `path`; return the arrays it holds."""
    arrays = cifar10_arrays(per_batch, num_test, seed)
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        for rel, data in cifar10_files(arrays).items():
            info = tarfile.TarInfo(rel)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return arrays


# --- Image folders ("sunglasses vs hat" layout).

def write_image_folder(directory, counts, size=(40, 30), seed=0, stray=("notes.txt",)):
    """Write `<directory>/<class>/<i>.png|jpg` for counts {class: n}; return what a reader sees.

    Images are synthetic smooth noise of `size` (width, height). Files alternate PNG (RGB),
    JPEG, PNG (grayscale) and PNG (RGBA). `stray` names non-image files written in the first
    class folder. Returns {class: {filename: uint8 [H,W,3] as PIL decodes it, in RGB}}.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    width, height = size
    written = {}
    for cls, n in counts.items():
        folder = os.path.join(directory, cls)
        os.makedirs(folder, exist_ok=True)
        written[cls] = {}
        for i in range(n):
            coarse = rng.integers(0, 256, size=(height // 5 + 1, width // 5 + 1, 3), dtype=np.uint8)
            pixels = np.array(Image.fromarray(coarse).resize((width, height), Image.BILINEAR))
            kind = i % 4
            name = f"{cls}_{i:03d}." + ("jpg" if kind == 1 else "png")
            image = Image.fromarray(pixels)
            if kind == 2:
                image = image.convert("L")
            elif kind == 3:
                image = image.convert("RGBA")
            image.save(os.path.join(folder, name))
            with Image.open(os.path.join(folder, name)) as back:
                written[cls][name] = np.asarray(back.convert("RGB"))
        if stray and cls == next(iter(counts)):
            for name in stray:
                with open(os.path.join(folder, name), "w") as f:
                    f.write("not an image\n")
    return written
