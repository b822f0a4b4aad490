"""Checkpoint files in TF's real formats, and SYNTHETIC release-format contents to put in them.

    write_checkpoint('/tmp/ckpt/model.ckpt', {'w': w, 'global_step': np.int64(7)})   # V1, one file
    write_net_checkpoint('vgg_16', '/tmp/ckpt/vgg_16.ckpt')    # release names and shapes, random values

`write_checkpoint` writes {name: array} as a V1 file (the single-file table format the TF-Slim
releases ship in), atomically, or as a V2 prefix. The synthetic helpers give a net's release
names and shapes (from its manifest, `extra` entries such as `global_step` and `vgg_16/mean_rgb`
included) with seeded random values, NOT trained weights: enough to restore, time or test a
graph whose speed does not depend on the values.
"""
import os
import tempfile
import zlib

import numpy as np

from tlslim.compat import tf
from tlslim.nets import get_info, manifest

WEIGHT_LEAVES = ("weights", "kernel", "depthwise_weights", "pointwise_weights")


def write_checkpoint(path, tensors, version=1, update_state=False):
    """Write {name: array} as a checkpoint at `path` and return `path`.

    version=1: one file at `path` (TF's V1 table format, as the releases), written to a temporary
    file in the same directory and renamed over `path`, so `path` is never half-written.
    version=2: the V2 prefix `path` (`path.index` + `path.data-00000-of-00001`); `update_state`
    also points the directory's `checkpoint` state file at it.
    """
    if version not in (1, 2):
        raise ValueError(f"version must be 1 or 2, got {version!r}")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if version == 2:
        _save(tensors, lambda names, feeds: tf.raw_ops.SaveV2(
            prefix=path, tensor_names=names, shape_and_slices=[""] * len(names), tensors=feeds))
        if update_state:
            tf.train.update_checkpoint_state(directory, os.path.abspath(path))
        return path
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".ckpt", dir=directory)
    os.close(fd)
    try:
        _save(tensors, lambda names, feeds: tf.raw_ops.Save(filename=tmp, tensor_names=names, data=feeds))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _save(tensors, save_op):
    """Run save_op(sorted names, placeholders) in a fresh graph, feeding the arrays.

    Placeholders, not constants: a 528 MB VGG would not fit in a GraphDef."""
    names = sorted(tensors)
    arrays = [np.asarray(tensors[n]) for n in names]
    with tf.Graph().as_default(), tf.Session() as session:
        feeds = [tf.placeholder(tf.as_dtype(a.dtype), a.shape) for a in arrays]
        session.run(save_op(names, feeds), dict(zip(feeds, arrays)))


def synthetic_value(name, shape, seed=0):
    """A seeded random array for entry `name`, shaped and typed like such an entry in a release:
    He-uniform weights, small biases/betas, gammas near 1, positive moving variances, an int64
    global_step, float32 otherwise. The same (name, shape, seed) always gives the same array."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    shape = tuple(int(d) for d in shape)
    leaf = name.rsplit("/", 1)[-1]
    if leaf == "global_step":
        return np.array(rng.integers(1, 10 ** 6), dtype=np.int64).reshape(shape)
    if leaf in WEIGHT_LEAVES:
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


def write_net_checkpoint(net, path, version=1, num_classes=None, seed=0, extra=True):
    """A SYNTHETIC checkpoint of `net` with the release's names and shapes (see net_shapes)."""
    return write_checkpoint(path, synthetic_tensors(net_shapes(net, num_classes, extra), seed), version)
