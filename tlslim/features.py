"""Bottleneck-feature cache for frozen bases: compute the penultimate features once, train the head on them.

    if features.cache_wanted(config, cache_features=None):    # None: on for `head` without augmentation
        result = features.train_cached(config, cache_dir="runs/feature_cache")
    train.evaluate(config.model, result["checkpoint"], config.dataset, ...)  # same accuracy, full graph

When only the head trains, the base computes the same activations for an image in every epoch.
`train_cached` runs the base once over every training and test image (tf.data, large inference
batches, progress in the log), keeps the penultimate tensor -- found by name through
`restore.penultimate`, e.g. 'vgg_16/fc7/Relu:0' -- in an on-disk cache, then trains the head on
the cache. The training graph is the ordinary graph of the full net with the same head ops,
weight decay, optimizer and learning-rate schedule as tlslim.train; the cached features are fed
in place of the penultimate tensor, so the base never runs (its images placeholder is never fed:
a step that needed the base would fail, not silently recompute it). The checkpoints written to
the train_dir are ordinary full checkpoints: the base as restored from the release checkpoint,
the trained head (e.g. vgg_16/fc8/weights [1,1,4096,10]), the optimizer slots and the step, with
the run record of tlslim.train, so `train.evaluate` loads them into the ordinary graph and
`train.train` can resume them.

Features are computed in inference mode (dropout off, batch norm on its moving statistics),
exactly what evaluation feeds the head. The ordinary path's training tower applies the base's
dropout before the penultimate tensor (VGG's dropout6/dropout7, CifarNet's and LeNet's
dropout3), so there the head trains on dropped-out features; here it trains on the clean ones.
Dropout that belongs to the head (Inception's Dropout_0b, after PreLogits) still applies.

Cache entries are directories `<cache_dir>/<model>-<dataset>-<split>-<size>-<key>` holding
`features.npy` (float32 [N, ...penultimate shape]), `labels.npy` and `meta.json`. The key is a
SHA-256 over: the model and the penultimate tensor's name and shape; the checkpoint's content
(see `checkpoint_fingerprint`) and scope map; the dataset's name, split, subset, seed and a hash of
its image bytes, labels and class names; the preprocessing style, its dataset statistics and
the image size; and CACHE_VERSION. Any change gives a new key, so a changed input is never
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

from tlslim import data, nets, restore, train
from tlslim.compat import graph_mode, slim, tf
from tlslim.data.pipeline import _index_batches
from tlslim.device import choose_device, describe, session_config
from tlslim.errors import TlslimError
from tlslim.layers import batch_norm_train_only
from tlslim.scopes import in_scope, parse_scopes

__all__ = ["CACHE_VERSION", "DEFAULT_CACHE_DIR", "FeatureSet", "HeadGraph", "build_head_graph", "cache_key",
           "cache_wanted", "cached_features", "checkpoint_fingerprint", "dataset_fingerprint",
           "default_extract_batch_size", "evaluate_head", "extract", "head_session_config", "penultimate_spec", "train_cached"]

CACHE_VERSION = 1  # bump when what is stored for a key changes
DEFAULT_CACHE_DIR = os.path.join("runs", "feature_cache")
CACHE_FLAG = "--cache_features"
_PROGRESS_SECONDS = 10.0  # at most one progress line per this many seconds (plus one per 10%)


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
    mode, e.g. ('vgg_16/fc7/Relu:0', [1, 1, 4096]). Builds the net in a throwaway graph."""
    graph_mode()
    with tf.Graph().as_default():
        _, end_points = nets.get_network_fn(model, num_classes, is_training=False)(
            tf.placeholder(tf.float32, [None, image_size, image_size, 3]))
        tensor = restore.penultimate(end_points)
        return tensor.name, tensor.shape.as_list()[1:]


# Meta fields that make up the key (the others are information for a reader of meta.json).
_KEY_FIELDS = ("version", "model", "penultimate", "feature_shape", "checkpoint", "scope_map", "dataset", "split",
               "train_subset", "seed", "images", "count", "preprocessing", "stats", "image_size")


def cache_key(model, checkpoint_path, dataset, split, image_size, style, stats=None, scope_map=None,
              train_subset=None, seed=None):
    """(key, meta) of the features of `dataset` (a tlslim.data.Dataset, already subset) under net
    `model` restored from `checkpoint_path`: key is a hex string, meta the JSON-ready dict it hashes
    (see the module doc) plus the checkpoint path for information."""
    name, shape = penultimate_spec(model, image_size)
    smap = restore.parse_scope_map(scope_map)
    meta = {"version": CACHE_VERSION, "model": model, "penultimate": name, "feature_shape": shape,
            "checkpoint": checkpoint_fingerprint(checkpoint_path), "scope_map": smap or None,
            "dataset": dataset.name, "split": split, "train_subset": train_subset, "seed": seed,
            "images": dataset_fingerprint(dataset), "count": len(dataset), "preprocessing": style,
            "stats": _stats_fingerprint(stats), "image_size": int(image_size)}
    key = hashlib.sha256(json.dumps({k: meta[k] for k in _KEY_FIELDS}, sort_keys=True).encode()).hexdigest()[:32]
    meta["key"] = key
    meta["checkpoint_path"] = restore.resolve_checkpoint(checkpoint_path)
    return key, meta


# ---------------------------------------------------------------- extraction

def default_extract_batch_size(image_size):
    """Images per inference batch: 256 at 32x32, fewer for larger images (~8 MPixel per batch,
    at least 16), so VGG-16's first activations stay within a few GB of memory at 224."""
    return int(max(16, min(256, 256 * 32 * 32 // (image_size * image_size))))


class _Progress:
    """Log lines 'what: done/total images (p%), r images/s, ETA' every 10% or _PROGRESS_SECONDS."""

    def __init__(self, what, total):
        self.what, self.total, self.done = what, total, 0
        self.start = self.last = time.time()
        self.next_fraction = 0.1

    def update(self, n):
        self.done += n
        now = time.time()
        fraction = self.done / max(self.total, 1)
        if self.done < self.total and fraction < self.next_fraction and now - self.last < _PROGRESS_SECONDS:
            return
        while self.next_fraction <= fraction:
            self.next_fraction += 0.1
        self.last = now
        rate = self.done / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / max(rate, 1e-9)
        logging.info("%s: %d/%d images (%d%%), %.1f images/s, ETA %s", self.what, self.done, self.total,
                     int(100 * fraction), rate, train.format_duration(eta))


def extract(model, checkpoint_path, dataset, image_size, style, stats=None, batch_size=None, scope_map=None,
            device="auto", what="features"):
    """Run net `model` (inference mode) over every image of `dataset` once and return
    (features float32 [N, ...penultimate shape], labels int64 [N]) in the dataset's order.

    The base (every model variable outside the net's head scope) is restored from
    `checkpoint_path` (with `scope_map`); the head is neither restored nor run. Images go through
    `tlslim.data.input_pipeline` (no augmentation) in batches of `batch_size` (default
    `default_extract_batch_size`).
    """
    graph_mode()
    info = nets.get_info(model)
    batch_size = batch_size or default_extract_batch_size(image_size)
    device = choose_device(device)
    with tf.Graph().as_default():
        with tf.device("/device:CPU:0"):
            pipeline = data.input_pipeline(dataset, batch_size, image_size, style, is_training=False, stats=stats)
            images, labels = tf.data.make_one_shot_iterator(pipeline).get_next()
        with tf.device(device):
            _, end_points = nets.get_network_fn(model, dataset.num_classes, is_training=False)(images)
        features = restore.penultimate(end_points)
        base = [v for v in slim.get_model_variables() if not in_scope(v.op.name, [info.head_scope])]
        init_fn = restore.make_init_fn(checkpoint_path, base, scope_map)
        progress = _Progress(f"{what} ({features.name}, batches of {batch_size})", len(dataset))
        with tf.Session(config=session_config()) as sess:
            init_fn(sess)
            out_features, labels = train.run_to_end(sess, [features, labels], lambda r: progress.update(len(r[1])))
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


def cached_features(model, checkpoint_path, dataset, split, image_size, style, cache_dir=DEFAULT_CACHE_DIR,
                    stats=None, batch_size=None, scope_map=None, device="auto", train_subset=None, seed=None,
                    rebuild=False):
    """The FeatureSet of `dataset` (split name `split`): read from `cache_dir` if an entry with the
    same key is there, else extracted (`extract`) and stored. `rebuild` extracts even on a hit.
    `train_subset` and `seed` only label the entry (the image hash already covers the subset)."""
    started = time.time()
    key, meta = cache_key(model, checkpoint_path, dataset, split, image_size, style, stats, scope_map,
                          train_subset, seed)
    path = _entry_dir(cache_dir, meta)
    found = None if rebuild else _read_entry(path, key, len(dataset))
    if found is not None:
        logging.info("features of %s/%s: read from the cache %s", dataset.name, split, path)
        return FeatureSet(found[0], found[1], key, meta, path, False, time.time() - started)
    logging.info("features of %s/%s (%d images): not in the cache, extracting with %s into %s", dataset.name, split,
                 len(dataset), meta["penultimate"], path)
    features, labels = extract(model, checkpoint_path, dataset, image_size, style, stats, batch_size, scope_map,
                               device, what=f"extracting {dataset.name}/{split}")
    meta["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _write_entry(path, meta, features, labels)
    return FeatureSet(features, labels, key, meta, path, True, time.time() - started)


# ---------------------------------------------------------------- when the cache applies

def _cache_problem(config, exclude=None):
    """Why `config` (checked) cannot train on cached features, or None. `exclude`: the plan's
    resolved exclusions (checked too when given)."""
    info = nets.get_info(config.model)
    head = info.head_scope
    if config.strategy != "head":
        return (f"{CACHE_FLAG} trains the head on features of a frozen base and needs --strategy head, got "
                f"--strategy {config.strategy}; drop {CACHE_FLAG} or use --strategy head.")
    outside = [s for s in parse_scopes(config.trainable_scopes) if not in_scope(s, [head])]
    if outside:
        return (f"{CACHE_FLAG} needs a frozen base, but --trainable_scopes {outside[0]} lies outside the head "
                f"{head}; drop {CACHE_FLAG} or train only scopes under {head}.")
    scopes = parse_scopes(config.exclude) if exclude is None else list(exclude)
    outside = [s for s in scopes if s != restore.AUTO and not in_scope(s, [head])]
    if outside:
        return (f"{CACHE_FLAG} needs the whole base restored, but --exclude {outside[0]} lies outside the head "
                f"{head}; drop {CACHE_FLAG} or exclude only scopes under {head}.")
    if config.augment:
        return (f"{CACHE_FLAG} computes each image's features once, so random augmentation cannot apply; pass "
                f"--noaugment, or drop {CACHE_FLAG}.")
    if config.mixed_precision:
        return f"{CACHE_FLAG} extracts and trains in float32; drop --mixed_precision or {CACHE_FLAG}."
    return None


def cache_wanted(config, cache_features=None):
    """Whether a run of `config` (a TrainConfig) trains on cached features.

    cache_features False: no. True: yes, and a one-line TlslimError if the run cannot (not the
    head strategy, a trainable or excluded scope outside the head, augmentation, mixed
    precision); with augment left at None augmentation is then off. None (the default): yes
    exactly when the strategy is head, `augment` is False and nothing above stands in the way.
    """
    if cache_features is False:
        return False
    config = train.check_config(config)
    problem = _cache_problem(config)
    if cache_features is None:
        return problem is None and config.augment is False
    if problem:
        raise TlslimError(problem)
    return True


# ---------------------------------------------------------------- the head graph

@dataclasses.dataclass
class HeadGraph:
    """The full net's training graph with the penultimate tensors fed from the cache.

    features / eval_features: the training / evaluation tower's penultimate tensors (feed them);
    labels: the int64 labels placeholder; the rest as in tlslim.train.TrainGraph. `init_op`
    initializes only the variables not restored from the release checkpoint.
    """
    graph: object
    global_step: object
    train_op: object
    step_after: object
    loss: object
    accuracy: object
    learning_rate: object
    var_list: list
    var_groups: list
    features: object
    labels: object
    eval_features: object
    eval_logits: object
    restore_vars: list
    init_op: object
    saver: object
    weights_finite: object


def build_head_graph(config, plan, num_classes, image_size):
    """Build the HeadGraph of `config` (checked) and `plan` (tlslim.train.make_plan) in a new graph.

    The loss is tlslim.train's: softmax cross-entropy plus the weight-decay terms of the trained
    variables; the train op is `train.build_train_op` with `train.learning_rate_schedule`.
    """
    device = choose_device(config.device)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(config.seed)
        global_step = tf.train.get_or_create_global_step()
        # Never fed: the base's ops read it, and no step of this graph runs them.
        images = tf.placeholder(tf.float32, [None, image_size, image_size, 3], name="images_not_fed")
        labels = tf.placeholder(tf.int64, [None], name="labels")
        with tf.device(device):
            train_fn = nets.get_network_fn(config.model, num_classes, is_training=True,
                                           weight_decay=config.weight_decay)
            with batch_norm_train_only(plan.trainable_scopes):
                logits, end_points = train_fn(images)
            features = restore.penultimate(end_points)
            update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
            model_vars = slim.get_model_variables()
            var_list = [v for v in tf.trainable_variables() if in_scope(v.op.name, plan.trainable_scopes)]
            var_groups = train.group_variables(var_list, plan.groups)
            with tf.name_scope("loss"):
                cross_entropy = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
                trained = {v.op.name for v in var_list}
                decay = [r for r in tf.losses.get_regularization_losses()
                         if train.regularized_variable(r) in trained]
                total_loss = tf.add_n([cross_entropy] + decay, name="total_loss") if decay else cross_entropy
                accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))
            with tf.control_dependencies(update_ops):
                total_loss = tf.identity(total_loss, name="total_loss_after_updates")
            learning_rate = train.learning_rate_schedule(config, global_step)
            train_op = train.build_train_op(total_loss, var_groups, learning_rate, config, global_step)
            with tf.control_dependencies([train_op]):
                step_after = global_step.read_value()
            eval_fn = nets.get_network_fn(config.model, num_classes, is_training=False)
            with tf.variable_scope(tf.get_variable_scope(), reuse=True), tf.name_scope("eval"):
                eval_logits, eval_end_points = eval_fn(images)
            eval_features = restore.penultimate(eval_end_points)
        restore_vars = (restore.variables_to_restore(exclude=plan.exclude, variables=model_vars)
                        if plan.checkpoint_path else [])
        restored = set(restore_vars)
        init_op = tf.variables_initializer([v for v in tf.global_variables() if v not in restored])
        weights_finite = tf.reduce_all([tf.reduce_all(tf.is_finite(v)) for v in var_list])
        saver = tf.train.Saver(max_to_keep=config.keep_checkpoints, name="train_saver")
    return HeadGraph(graph, global_step, train_op, step_after, total_loss, accuracy, learning_rate, var_list,
                     var_groups, features, labels, eval_features, eval_logits, restore_vars, init_op, saver,
                     weights_finite)


def _feed_shape(hg_tensor, array):
    """Cached rows reshaped to the fed tensor's per-example shape (a cache stores them as extracted)."""
    return array.reshape((len(array),) + tuple(hg_tensor.shape.as_list()[1:]))


def evaluate_head(sess, hg, feature_set, batch_size=1024):
    """Metrics ({'top1', 'top5', 'loss', 'count'}, as tlslim.train.evaluate) of the head in `sess`
    on cached features, plus 'logits' and 'labels'."""
    all_logits = []
    for start in range(0, len(feature_set), batch_size):
        rows = np.asarray(feature_set.features[start:start + batch_size])
        all_logits.append(sess.run(hg.eval_logits, {hg.eval_features: _feed_shape(hg.eval_features, rows)}))
    logits = np.concatenate(all_logits).astype(np.float64)
    labels = np.asarray(feature_set.labels)
    result = train.eval_metrics(logits, labels)
    result.update(logits=logits, labels=labels)
    return result


def head_session_config():
    """tlslim.device.session_config() with Grappler's graph rewriting off.

    Grappler's constant folding turns the shape of a fed tensor into a constant with a control
    dependency on the op that produced it, which would run the whole base on the never-fed
    images placeholder ("You must feed a value for placeholder"). The head graph is a few
    small ops; it loses nothing without the rewrites.
    """
    config = session_config()
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    return config


# ---------------------------------------------------------------- the run

def train_cached(config, cache_dir=None, extract_batch_size=None, rebuild_cache=False):
    """Run `config` (strategy head) on cached features; returns tlslim.train.train's dict plus
    'cache' ({'train', 'test': entry dirs, 'extracted': bool per split, 'extract_seconds'}),
    'train_seconds' (the training loop alone) and, in every 'history' entry, 'seconds' since the start.

    `cache_dir` defaults to DEFAULT_CACHE_DIR. Evaluation (every `eval_every_steps` and at the end)
    runs the head on the cached test features; the saved checkpoint evaluates the same through
    the full graph (`train.evaluate`). Re-running resumes from the train_dir like `train.train`.
    """
    started = time.time()
    graph_mode()
    config = train.check_config(config)
    if config.augment is None:
        config.augment = False  # a cached feature is computed once, unaugmented
    problem = _cache_problem(config)
    if problem:
        raise TlslimError(problem)
    cache_dir = cache_dir or DEFAULT_CACHE_DIR
    info = nets.get_info(config.model)
    image_size = config.image_size or info.default_image_size
    style = config.preprocessing or info.preprocessing
    train_dir = config.train_dir or train.default_train_dir(config)
    logging.info("model %s on %s; head trained on cached features", config.model,
                 describe(choose_device(config.device)))

    train_set = data.load(config.dataset, config.dataset_dir, split="train", train_subset=config.train_subset,
                          seed=config.seed)
    test_set = train.first_examples(data.load(config.dataset, config.dataset_dir, split="test", seed=config.seed),
                            config.eval_examples)
    num_classes = train_set.num_classes

    latest = train.latest_checkpoint(train_dir)
    resumed = train.read_run_record(train_dir) if latest else None
    train.compare_records(train_dir, resumed, {"model": config.model, "num_classes": num_classes})
    plan = train.make_plan(config, num_classes, image_size, resumed)
    problem = _cache_problem(config, plan.exclude)  # `--exclude auto` is resolved now
    if problem:
        raise TlslimError(problem)
    if plan.report is not None:
        logging.info("%s", plan.report.text())

    # The features: the base as the release checkpoint has it (a resumed run's base is the same).
    source = plan.checkpoint_path or config.checkpoint_path
    stats = train.style_stats(style, train_set)
    common = dict(cache_dir=cache_dir, stats=stats, batch_size=extract_batch_size, scope_map=config.scope_map,
                  device=config.device, rebuild=rebuild_cache)
    extract_started = time.time()
    train_fs = cached_features(config.model, source, train_set, "train", image_size, style,
                               train_subset=config.train_subset, seed=config.seed, **common)
    test_fs = cached_features(config.model, source, test_set, "test", image_size, style, **common)
    extract_seconds = time.time() - extract_started

    hg = build_head_graph(config, plan, num_classes, image_size)
    record = train.run_record(config, num_classes, image_size, plan)
    record["cache_features"] = True
    if latest:
        train.check_resumable(train_dir, latest, record, hg.graph)
    init_fn = restore.make_init_fn(plan.checkpoint_path, hg.restore_vars, config.scope_map) \
        if plan.checkpoint_path and not latest else None
    logging.info("training (strategy head, cached features %s): %d variables in %s", train_fs.meta["penultimate"],
                 len(hg.var_list), ", ".join(plan.trainable_scopes))
    hg.graph.finalize()
    os.makedirs(train_dir, exist_ok=True)
    with open(os.path.join(train_dir, train.RUN_FILE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)

    history = []
    with tf.Session(graph=hg.graph, config=head_session_config()) as sess:
        if latest:
            hg.saver.restore(sess, latest)
            logging.info("resuming from %s", latest)
        else:
            sess.run(hg.init_op)
            if init_fn:
                init_fn(sess)

        def evaluation(step):
            m = evaluate_head(sess, hg, test_fs)
            del m["logits"], m["labels"]
            m.update(step=step, seconds=time.time() - started)
            history.append(m)
            logging.info("eval at step %d (cached features): %s", step, train.format_metrics(m))
            return m

        # The order of tlslim.train's pipeline for the same seed and step (no augmentation).
        start_step = int(sess.run(hg.global_step))
        batches = _index_batches(len(train_fs), config.batch_size, True, True, train.data_seed(config.seed, start_step))
        fetches = [hg.train_op, hg.loss, hg.accuracy, hg.learning_rate, hg.step_after]

        def run_step():
            idx = np.sort(next(batches))  # sorted reads from a memory-mapped cache; the batch is a set
            return sess.run(fetches, {hg.features: _feed_shape(hg.features, np.asarray(train_fs.features[idx])),
                                      hg.labels: train_fs.labels[idx]})[1:]

        loop = train.run_loop(sess, hg, config, train_dir, run_step, evaluation, latest)
    step, final, loop_seconds = loop["step"], loop["final"], loop["loop_seconds"]
    seconds = time.time() - started
    logging.info("done: step %d in %s (features %s, head training %s); %s", step, train.format_duration(seconds),
                 train.format_duration(extract_seconds), train.format_duration(loop_seconds), train.format_metrics(final))
    return {"step": step, "loss": loop["loss"], "top1": final["top1"], "top5": final["top5"],
            "eval_loss": final["loss"], "seconds": seconds, "history": history, "losses": loop["losses"],
            "train_dir": train_dir, "checkpoint": loop["checkpoint"], "train_seconds": loop_seconds,
            "cache": {"train": train_fs.path, "test": test_fs.path, "extract_seconds": extract_seconds,
                      "extracted": {"train": train_fs.extracted, "test": test_fs.extracted}}}
