"""Bottleneck-feature cache for frozen bases: the penultimate features of every image, computed once.

    fs = features.cached_features("vgg_16", "vgg_16.ckpt", train_set, "train", 224, "vgg")
    fs.features   # float32 [N, 1, 1, 4096]: vgg_16/dropout7/Identity:0 in inference mode

When only the head trains, the base computes the same activations for an image in every epoch.
`cached_features` runs the base once over every image of a split (tf.data, large inference
batches, progress in the log) and keeps the penultimate tensor -- found by name through
`restore.penultimate` -- in an on-disk cache; tlslim.train's CachedHead builder trains the head
on it. Features are computed in inference mode (dropout off, batch norm on its moving
statistics), exactly what evaluation feeds the head.

Cache entries are directories `<cache_dir>/<model>-<dataset>-<split>-<size>-<key>` holding
`features.npy` (float32 [N, ...penultimate shape]), `labels.npy` and `meta.json`. The key is a
SHA-256 over: the model and the penultimate tensor's name and shape; the checkpoint's content
(see `checkpoint_fingerprint`) and scope map; the dataset's name, split, subset, seed and a hash of
its image bytes, labels and class names; the preprocessing style and geometry, its dataset
statistics and the image size; and CACHE_VERSION. Any change gives a new key, so a changed input is never
served stale features (old entries stay on disk until deleted).
"""
import dataclasses
import hashlib
import json
import os
import shutil
import time

import numpy as np
from absl import logging

from tlslim import data, nets, restore
from tlslim.compat import graph_mode, slim, tf
from tlslim.device import choose_device, session_config
from tlslim.errors import TlslimError
from tlslim.progress import Progress, run_to_end

__all__ = ["CACHE_VERSION", "FeatureSet", "cache_key", "cached_features", "checkpoint_fingerprint",
           "dataset_fingerprint", "default_extract_batch_size", "extract", "penultimate_spec"]

CACHE_VERSION = 1  # bump when what is stored for a key changes


# ---------------------------------------------------------------- fingerprints and keys

_FINGERPRINTS = {}  # (path, size, mtime_ns, inode) -> fingerprint: a file is hashed once per process


def _sha256_file(path, h):
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)


def checkpoint_fingerprint(path):
    """A SHA-256 hex digest of a checkpoint's content (V1 file, V2 prefix or directory).

    V2: the `.index` file (it records every tensor's name, shape, dtype, offset and CRC32C of its
    bytes) plus the sizes of the data shards, so it changes with any tensor value without reading
    the data. V1 (how the releases ship): the whole file. The file name does not enter: a copied
    or renamed checkpoint keeps its fingerprint.
    """
    path = restore.resolve_checkpoint(path)
    files = [path + ".index"] if os.path.isfile(path + ".index") else [path]
    stats = [os.stat(p) for p in files]
    stamp = tuple((os.path.realpath(p), st.st_size, st.st_mtime_ns, st.st_ino) for p, st in zip(files, stats))
    if stamp in _FINGERPRINTS:
        return _FINGERPRINTS[stamp]
    h = hashlib.sha256()
    if files[0].endswith(".index"):
        h.update(b"v2\0")
        _sha256_file(files[0], h)
        directory, prefix = os.path.split(os.path.abspath(path))
        for shard in sorted(p for p in os.listdir(directory) if p.startswith(prefix + ".data-")):
            h.update(f"{shard[len(prefix):]}={os.path.getsize(os.path.join(directory, shard))}\0".encode())
    else:
        h.update(b"v1\0")
        _sha256_file(path, h)
    _FINGERPRINTS[stamp] = h.hexdigest()
    return _FINGERPRINTS[stamp]


def dataset_fingerprint(dataset):
    """A SHA-256 hex digest of a Dataset's image bytes, labels and class names."""
    h = hashlib.sha256()
    h.update(json.dumps([list(dataset.images.shape), list(dataset.class_names)]).encode())
    h.update(memoryview(np.ascontiguousarray(dataset.images)).cast("B"))
    h.update(np.ascontiguousarray(dataset.labels, dtype="<i8").tobytes())
    return h.hexdigest()


def _stats_fingerprint(stats):
    if stats is None:
        return None
    h = hashlib.sha256()
    for array in (stats.mean, stats.std, stats.mean_image):
        h.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
    return h.hexdigest()


def penultimate_spec(model, image_size, num_classes=10):
    """(name, per-example shape) of net `model`'s penultimate tensor at `image_size`, in inference
    mode, e.g. ('vgg_16/dropout7/Identity:0', [1, 1, 4096]). Builds the net in a throwaway graph."""
    graph_mode()
    with tf.Graph().as_default():
        _, end_points = nets.get_network_fn(model, num_classes, is_training=False)(
            tf.placeholder(tf.float32, [None, image_size, image_size, 3]))
        tensor = restore.penultimate(end_points)
        return tensor.name, tensor.shape.as_list()[1:]


# Meta fields that make up the key (the others are information for a reader of meta.json).
_KEY_FIELDS = ("version", "model", "penultimate", "feature_shape", "checkpoint", "scope_map", "dataset", "split",
               "train_subset", "seed", "images", "count", "preprocessing", "geometry", "stats", "image_size")


def cache_key(model, checkpoint_path, dataset, split, image_size, style, stats=None, scope_map=None,
              train_subset=None, seed=None, geometry="squash"):
    """(key, meta) of the features of `dataset` (a tlslim.data.Dataset, already subset) under net
    `model` restored from `checkpoint_path`: key is a hex string, meta the JSON-ready dict it hashes
    (see the module doc) plus the checkpoint path for information."""
    name, shape = penultimate_spec(model, image_size)
    smap = restore.parse_scope_map(scope_map)
    meta = {"version": CACHE_VERSION, "model": model, "penultimate": name, "feature_shape": shape,
            "checkpoint": checkpoint_fingerprint(checkpoint_path), "scope_map": smap or None,
            "dataset": dataset.name, "split": split, "train_subset": train_subset, "seed": seed,
            "images": dataset_fingerprint(dataset), "count": len(dataset), "preprocessing": style,
            "geometry": data.choose_geometry(geometry, style, dataset.images.shape[1:3], image_size), "stats": _stats_fingerprint(stats), "image_size": int(image_size)}
    key = hashlib.sha256(json.dumps({k: meta[k] for k in _KEY_FIELDS}, sort_keys=True).encode()).hexdigest()[:32]
    meta["key"] = key
    meta["checkpoint_path"] = restore.resolve_checkpoint(checkpoint_path)
    return key, meta


# ---------------------------------------------------------------- extraction

def default_extract_batch_size(image_size):
    """Images per inference batch: 256 at 32x32, fewer for larger images (~8 MPixel per batch,
    at least 16), so VGG-16's first activations stay within a few GB of memory at 224."""
    return int(max(16, min(256, 256 * 32 * 32 // (image_size * image_size))))


def extract(model, checkpoint_path, dataset, image_size, style, stats=None, batch_size=None, scope_map=None,
            device="auto", what="features", restore_plan=None, geometry="squash"):
    """Run net `model` (inference mode) over every image of `dataset` once and return
    (features float32 [N, ...penultimate shape], labels int64 [N]) in the dataset's order.

    The base (every model variable outside the net's head scope) is restored from
    `checkpoint_path` (with `scope_map`), or as the run's `restore_plan` (a restore.RestorePlan made
    for this net) says without planning again; the head is not run. Images go through
    `tlslim.data.input_pipeline` (no augmentation, `geometry`) in batches of `batch_size` (default
    `default_extract_batch_size`).
    """
    graph_mode()
    info = nets.get_info(model)
    batch_size = batch_size or default_extract_batch_size(image_size)
    device = choose_device(device)
    with tf.Graph().as_default():
        with tf.device("/device:CPU:0"):
            pipeline = data.input_pipeline(dataset, batch_size, image_size, style, is_training=False, stats=stats,
                                           geometry=geometry)
            images, labels = tf.data.make_one_shot_iterator(pipeline).get_next()
        with tf.device(device):
            _, end_points = nets.get_network_fn(model, dataset.num_classes, is_training=False)(images)
        features = restore.penultimate(end_points)
        variables = slim.get_model_variables()
        if restore_plan is None:
            restore_plan = restore.prepare_restore(checkpoint_path, exclude=[info.head_scope], scope_map=scope_map,
                                                   variables=variables)
        init_fn = restore_plan.make_init_fn(variables)
        progress = Progress(f"{what} ({features.name}, batches of {batch_size})", len(dataset))
        with tf.Session(config=session_config()) as sess:
            init_fn(sess)
            out_features, labels = run_to_end(sess, [features, labels], lambda r: progress.update(len(r[1])))
    if labels is None:
        raise TlslimError(f"the {what} split has no images; check --dataset_dir.")
    if not np.array_equal(labels, dataset.labels):  # the pipeline must keep the dataset's order
        raise RuntimeError("the evaluation pipeline reordered the images; features would be mislabelled")
    return out_features.astype(np.float32, copy=False), labels


@dataclasses.dataclass
class FeatureSet:
    """Cached features of one dataset split: features float32 [N, ...], labels int64 [N], the
    cache key and meta, the entry's directory, whether this call extracted them (False: read from
    the cache) and the seconds it took."""
    features: np.ndarray
    labels: np.ndarray
    key: str
    meta: dict
    path: str
    extracted: bool
    seconds: float

    def __len__(self):
        return len(self.labels)


def _entry_dir(cache_dir, meta):
    return os.path.join(cache_dir, f"{meta['model']}-{meta['dataset']}-{meta['split']}-{meta['image_size']}-"
                                   f"{meta['key']}")


def _read_entry(path, key, count, mmap=True):
    """(features, labels) of a complete cache entry for `key`, or None (absent or unreadable)."""
    try:
        with open(os.path.join(path, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        features = np.load(os.path.join(path, "features.npy"), mmap_mode="r" if mmap else None)
        labels = np.load(os.path.join(path, "labels.npy"))
    except (OSError, ValueError) as err:
        if os.path.exists(path):
            logging.warning("feature cache entry %s is unreadable (%s); extracting again", path, err)
        return None
    if meta.get("key") != key or len(features) != count or len(labels) != count:
        logging.warning("feature cache entry %s does not match its key; extracting again", path)
        return None
    return features, labels


def _write_entry(path, meta, features, labels):
    """Write an entry into a temporary directory, then rename it into place (no half-written
    entry is ever visible under its key)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    part = f"{path}.part-{os.getpid()}"
    shutil.rmtree(part, ignore_errors=True)
    os.makedirs(part)
    np.save(os.path.join(part, "features.npy"), features)
    np.save(os.path.join(part, "labels.npy"), labels)
    with open(os.path.join(part, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    shutil.rmtree(path, ignore_errors=True)  # an unreadable old entry under the same key
    try:
        os.rename(part, path)
    except OSError:  # another process wrote the same entry meanwhile: its content is the same
        shutil.rmtree(part, ignore_errors=True)


def cached_features(model, checkpoint_path, dataset, split, image_size, style, cache_dir,
                    stats=None, batch_size=None, scope_map=None, device="auto", train_subset=None, seed=None,
                    rebuild=False, restore_plan=None, geometry="squash"):
    """The FeatureSet of `dataset` (split name `split`): read from `cache_dir` if an entry with the
    same key is there, else extracted (`extract`, restoring as `restore_plan` says if given) and
    stored. `rebuild` extracts even on a hit. `train_subset` and `seed` only label the entry (the
    image hash already covers the subset)."""
    started = time.time()
    key, meta = cache_key(model, checkpoint_path, dataset, split, image_size, style, stats, scope_map,
                          train_subset, seed, geometry)
    path = _entry_dir(cache_dir, meta)
    found = None if rebuild else _read_entry(path, key, len(dataset))
    if found is not None:
        logging.info("features of %s/%s: read from the cache %s", dataset.name, split, path)
        return FeatureSet(found[0], found[1], key, meta, path, False, time.time() - started)
    logging.info("features of %s/%s (%d images): not in the cache, extracting with %s into %s", dataset.name, split,
                 len(dataset), meta["penultimate"], path)
    features, labels = extract(model, checkpoint_path, dataset, image_size, style, stats, batch_size, scope_map,
                               device, what=f"extracting {dataset.name}/{split}", restore_plan=restore_plan,
                               geometry=meta["geometry"])
    meta["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _write_entry(path, meta, features, labels)
    return FeatureSet(features, labels, key, meta, path, True, time.time() - started)
