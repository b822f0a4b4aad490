"""SYNTHETIC checkpoints in the real formats, for tests and benchmarks.

The names and shapes are the releases' (from the nets' manifests, `extra` entries such as
`global_step` and `vgg_16/mean_rgb` included); the values are seeded random numbers, NOT trained
weights. Files are written in TF's V1 single-file format (how the TF-Slim releases ship) or V2.

    path = write_net_checkpoint('vgg_16', '/tmp/ckpt/vgg_16.ckpt')            # V1, release shapes
    tarball = make_release_tarball('inception_v1', '/tmp/serve')               # inception_v1_2016_08_28.tar.gz
"""
import io
import os
import tarfile
import tempfile
import zlib

import numpy as np

from tlslim.compat import tf
from tlslim.nets import get_info, manifest

SYNTHETIC_NOTE = ("SYNTHETIC checkpoint written by tlslim.testing.checkpoints: the variable names and shapes "
                  "are the release's, the values are seeded random numbers, not trained weights.\n")
NOTE_NAME = "SYNTHETIC_README.txt"


def _rng(seed, name):
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def synthetic_value(name, shape, seed=0):
    """A seeded random array for entry `name`, shaped and typed like such an entry in a release:
    He-uniform weights, small biases/betas, gammas near 1, positive moving variances, an int64
    global_step, float32 otherwise. The same (name, shape, seed) always gives the same array."""
    rng = _rng(seed, name)
    shape = tuple(int(d) for d in shape)
    leaf = name.rsplit("/", 1)[-1]
    if leaf == "global_step":
        return np.array(rng.integers(1, 10 ** 6), dtype=np.int64).reshape(shape)
    if leaf in ("weights", "kernel", "depthwise_weights", "pointwise_weights"):
        # He-uniform in [-limit, limit], built in place: VGG's fc6 alone is 103 M values.
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        limit = np.float32(np.sqrt(6.0 / max(fan_in, 1)))
        value = rng.random(shape, dtype=np.float32)
        value -= np.float32(0.5)
        value *= 2 * limit
        return value
    if leaf in ("biases", "beta"):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.01)
    if leaf == "gamma":
        return np.float32(1) + rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)
    if leaf == "moving_mean":
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)
    if leaf == "moving_variance":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return rng.uniform(0.0, 255.0, shape).astype(np.float32)  # extras such as mean_rgb


def synthetic_tensors(shapes, seed=0):
    """{name: shape} -> {name: seeded random array} (see synthetic_value)."""
    return {name: synthetic_value(name, shape, seed) for name, shape in shapes.items()}


def net_shapes(net, num_classes=None, extra=True):
    """{name: shape} of net `net`'s release checkpoint from its manifest; `num_classes` changes
    the head's class dimension (as a fine-tuned checkpoint has); `extra` adds the extra entries."""
    m = manifest(net)
    head = get_info(net).head_scope
    shapes = {}
    for name, shape in m["variables"].items():
        shape = list(shape)
        if num_classes is not None and (name == head or name.startswith(head + "/")) \
                and shape and shape[-1] == m["num_classes"]:
            shape[-1] = num_classes
        shapes[name] = shape
    if extra:
        shapes.update({name: list(shape) for name, shape in m.get("extra", {}).items()})
    return shapes


def write_checkpoint(path, tensors, version=1, update_state=False):
    """Write {name: array} as a checkpoint at `path` and return `path`.

    version=1: one file at `path` (TF's V1 table format, as the releases). version=2: the V2
    prefix `path` (`path.index` + `path.data-00000-of-00001`); `update_state` also points the
    directory's `checkpoint` state file at it.
    """
    if version not in (1, 2):
        raise ValueError(f"version must be 1 or 2, got {version!r}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    names = sorted(tensors)
    arrays = [np.asarray(tensors[n]) for n in names]
    with tf.Graph().as_default(), tf.Session() as session:
        # Placeholders, not constants: a 528 MB VGG would not fit in a GraphDef.
        feeds = [tf.placeholder(tf.as_dtype(a.dtype), a.shape) for a in arrays]
        if version == 1:
            op = tf.raw_ops.Save(filename=path, tensor_names=names, data=feeds)
        else:
            op = tf.raw_ops.SaveV2(prefix=path, tensor_names=names, shape_and_slices=[""] * len(names),
                                   tensors=feeds)
        session.run(op, dict(zip(feeds, arrays)))
    if version == 2 and update_state:
        tf.train.update_checkpoint_state(os.path.dirname(os.path.abspath(path)), os.path.abspath(path))
    return path


def write_net_checkpoint(net, path, version=1, num_classes=None, seed=0, extra=True):
    """A SYNTHETIC checkpoint of `net` with the release's names and shapes (see net_shapes)."""
    return write_checkpoint(path, synthetic_tensors(net_shapes(net, num_classes, extra), seed), version)


def make_tarball(tarball_path, files, compresslevel=1):
    """A .tar.gz holding {name inside the archive: file path}, plus a SYNTHETIC note."""
    os.makedirs(os.path.dirname(os.path.abspath(tarball_path)), exist_ok=True)
    with tarfile.open(tarball_path, "w:gz", compresslevel=compresslevel) as tar:
        for arcname, path in files.items():
            tar.add(path, arcname=arcname)
        note = SYNTHETIC_NOTE.encode()
        info = tarfile.TarInfo(NOTE_NAME)
        info.size = len(note)
        tar.addfile(info, io.BytesIO(note))
    return tarball_path


def make_release_tarball(net, dest_dir, seed=0):
    """A SYNTHETIC stand-in for net `net`'s release tarball in `dest_dir`, named as the release
    (e.g. vgg_16_2016_08_28.tar.gz) and holding its V1 checkpoint file (e.g. vgg_16.ckpt) with the
    release names and shapes. Returns the tarball's path."""
    info = get_info(net)
    if not info.checkpoint_tarball:
        raise ValueError(f"{net} has no release checkpoint")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = write_net_checkpoint(net, os.path.join(tmp, info.checkpoint_file), seed=seed)
        return make_tarball(os.path.join(dest_dir, info.checkpoint_tarball), {info.checkpoint_file: ckpt})
