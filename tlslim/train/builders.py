"""The ways of training, each a graph builder plus a step function for the one harness.

    FullGraph   the whole net on tf.data batches (every strategy; augmentation; mixed precision)
    Replicated  FullGraph on several devices at once (tf.distribute's MirroredStrategy)
    Distributed FullGraph as one worker of a cluster (parameter servers; tlslim.train.cluster)
    CachedHead  the head alone on cached penultimate features of the frozen base (strategy head)

A builder makes its graph around `graph.build_towers` (so both have the same loss, optimizer,
batch-norm freezing, finiteness check and saver) and says how one step and one evaluation pass
run; tlslim.train.harness owns everything else (train_dir, resume, restore, session, summaries,
progress, checkpoints, failures).

CachedHead computes the penultimate tensor -- found by name through `restore.penultimate`, e.g.
'vgg_16/dropout7/Identity:0' or 'CifarNet/fc4/Relu:0' -- once per image with the base as restored
(tlslim.features keeps it on disk), then feeds it in place of that tensor, so the base never runs: its images
placeholder is never fed, and a step that needed the base would fail rather than silently
recompute it. Its checkpoints are ordinary full checkpoints (the base as restored, the trained
head, optimizer slots, step). Features are computed in inference mode, exactly what evaluation
feeds the head; the full graph's training tower applies the base's dropout before the
penultimate tensor (VGG's dropout6/dropout7, CifarNet's and LeNet's dropout3), so there the head
trains on dropped-out features and here on the clean ones. Dropout that belongs to the head
(Inception's Dropout_0b, after PreLogits) still applies. An auxiliary head (Inception v3's
AuxLogits) reads the base, so CachedHead trains without the auxiliary loss.
"""
import contextlib
import os

import numpy as np
from absl import logging

from tlslim import data, features, nets, restore
from tlslim.compat import tf
from tlslim.device import precision_session_config, session_config
from tlslim.errors import TlslimError
from tlslim.scopes import in_scope
from tlslim.train.cluster import build_ops, device_setter, start_server, wait_reachable, worker_session_config
from tlslim.train.evaluation import run_eval, style_stats
from tlslim.train.graph import build_towers

CACHE_FLAG = "--cache_features"
DEFAULT_CACHE_DIR = os.path.join("runs", "feature_cache")


def data_seed(seed, step, stream=0):
    """The data order's seed at `step`: a resumed run sees a fresh order, not the batches it saw;
    `stream` tells apart processes that train at once (a cluster's workers)."""
    return (int(seed) * 1_000_003 + int(step) + int(stream) * 7_919_993) % (2 ** 31 - 1)


class FullGraph:
    """The whole net trained on tf.data batches of preprocessed (and augmented) images."""
    label = ""

    def __init__(self, config, plan, train_set, test_set, image_size, device):
        self.config, self.plan, self.device = config, plan, device
        self.train_set, self.test_set, self.image_size = train_set, test_set, image_size
        self.style = config.preprocessing or nets.get_info(config.model).preprocessing
        self.class_weights = (data.balanced_weights(train_set.labels, train_set.num_classes)
                              if config.class_weights == "balanced" else None)

    def prepare(self):
        """Work before the graph (none here)."""

    # The session's target: '' for this process; a server's for a cluster.
    target = ""
    # Which order of the data this builder trains on (workers of a cluster each have their own).
    data_stream = 0

    def placement(self):
        """A device scope over the whole graph (none here)."""
        return contextlib.nullcontext()

    def build(self, start_step):
        c = self.config
        with tf.Graph().as_default(), self.placement():
            tf.set_random_seed(c.seed)
            tf.train.get_or_create_global_step()
            train_data, eval_iterator = self._pipelines(start_step)
            images, labels = tf.data.make_one_shot_iterator(train_data).get_next()
            eval_images, eval_labels = eval_iterator.get_next()
            tg = build_towers(c, self.plan, self.train_set.num_classes, images, labels, eval_images, self.device,
                              class_weights=self.class_weights)
            tg.inputs.update(eval_init=eval_iterator.initializer, eval_labels=eval_labels)
            self.add_ops(tg)
        return tg

    def add_ops(self, tg):
        """The builder's own ops, in the graph after the towers (none here)."""

    def _pipelines(self, start_step):
        """(training tf.data.Dataset, initializable evaluation iterator), on the CPU."""
        c = self.config
        with tf.device("/device:CPU:0"), tf.name_scope("data"):
            stats = style_stats(self.style, self.train_set)
            # Reseeded from the step on resume, so a resumed run sees a fresh order.
            train_data = data.input_pipeline(self.train_set, c.batch_size, self.image_size, self.style,
                                             is_training=True, seed=data_seed(c.seed, start_step, self.data_stream),
                                             augment=c.augment, stats=stats, geometry=c.geometry,
                                             balanced=c.sampling == "balanced")
            eval_data = data.input_pipeline(self.test_set, c.eval_batch_size or c.batch_size, self.image_size,
                                            self.style, is_training=False, stats=stats, geometry=c.geometry)
            return train_data, tf.data.make_initializable_iterator(eval_data)

    def session_config(self):
        return precision_session_config(session_config(), self.config.precision, self.device)

    def step_fn(self, sess, tg, start_step):
        fetches = tg.fetches
        return lambda: sess.run(fetches)[1:]

    def eval_pass(self, sess, tg):
        return run_eval(sess, tg.inputs["eval_init"], tg.eval_logits, tg.inputs["eval_labels"])

    def summary(self):
        return {}


class Replicated(FullGraph):
    """The whole net as FullGraph trains it, on several devices at once: tf.distribute's
    MirroredStrategy in graph mode splits each batch across the replicas, each runs the training
    tower on its share (batch norm with that share's statistics, as slim's clones had them), the
    gradients are averaged, and the global step advances once. Variables are mirrored, so the
    checkpoints have the layout of a one-device run (a run resumes with any number of replicas).
    Evaluation runs on the first device."""

    def __init__(self, config, plan, train_set, test_set, image_size, devices):
        super().__init__(config, plan, train_set, test_set, image_size, devices[0])
        self.devices = list(devices)
        self.label = f" ({len(self.devices)} replicas)"

    def build(self, start_step):
        c = self.config
        strategy = tf.distribute.MirroredStrategy(self.devices)
        with tf.Graph().as_default():
            tf.set_random_seed(c.seed)
            with strategy.scope():
                tf.train.get_or_create_global_step()
                train_data, eval_iterator = self._pipelines(start_step)
                # The TF 1.x graph-mode API of the strategy (TF logs it as deprecated; it works in 2.21).
                iterator = strategy.make_dataset_iterator(train_data)
                eval_images, eval_labels = eval_iterator.get_next()
                tg = build_towers(c, self.plan, self.train_set.num_classes, None, None, eval_images, self.device,
                                  replicated=(strategy, iterator), class_weights=self.class_weights)
                # A Saver restores a mirrored variable's first copy only (the release restore and a
                # resume alike): the others take its value before the first step.
                copies = [(strategy.experimental_local_results(v)[0], strategy.experimental_local_results(v)[1:])
                          for v in tf.global_variables()]
                sync = tf.group(*[c.assign(first.read_value()) for first, rest in copies for c in rest])
            tg.inputs.update(eval_init=eval_iterator.initializer, eval_labels=eval_labels,
                             train_init=iterator.initializer, sync_replicas=sync)
        return tg

    def step_fn(self, sess, tg, start_step):
        sess.run([tg.inputs["train_init"], tg.inputs["sync_replicas"]])
        return super().step_fn(sess, tg, start_step)


class Distributed(FullGraph):
    """FullGraph as one worker of a cluster (tlslim.train.cluster): the variables on the parameter
    servers, this worker's ops on its own device, its own order of the data, and the ops that join
    and leave the cluster (tg.inputs['cluster'])."""

    def __init__(self, config, plan, train_set, test_set, image_size, device, cluster):
        super().__init__(config, plan, train_set, test_set, image_size, device)
        self.cluster, self.server = cluster, None
        self.data_stream = cluster.rank
        self.label = "" if cluster.is_chief else f" ({cluster.name(cluster.job, cluster.index)})"

    def prepare(self):
        """Start this worker's server once the parameter servers answer."""
        cl = self.cluster
        wait_reachable(cl, [("ps", i) for i in range(len(cl.ps))], self.config.cluster_timeout)
        self.server = start_server(cl, session_config())
        self.target = self.server.target

    def placement(self):
        return tf.device(device_setter(self.cluster))

    def add_ops(self, tg):
        tg.inputs["cluster"] = build_ops(self.cluster)

    def session_config(self):
        return worker_session_config(super().session_config(), self.cluster)


def cache_problem(config, exclude=None, workers=1):
    """Why `config` (checked) cannot train on cached features, or None. `exclude`: the plan's
    resolved exclusions (default: the config's)."""
    info = nets.get_info(config.model)
    head = info.head_scope
    # An auxiliary head does not feed the penultimate tensor: excluding or training it leaves the
    # cached features as they are.
    heads = [head] + list(info.aux_scopes)
    if config.strategy != "head":
        return (f"{CACHE_FLAG} trains the head on features of a frozen base and needs --strategy head, got "
                f"--strategy {config.strategy}; drop {CACHE_FLAG} or use --strategy head.")
    outside = [s for s in config.trainable_scopes or () if not in_scope(s, heads)]
    if outside:
        return (f"{CACHE_FLAG} needs a frozen base, but --trainable_scopes {outside[0]} lies outside the head "
                f"{head}; drop {CACHE_FLAG} or train only scopes under {head}.")
    scopes = (config.exclude or ()) if exclude is None else exclude
    outside = [s for s in scopes if s != restore.AUTO and not in_scope(s, heads)]
    if outside:
        return (f"{CACHE_FLAG} needs the whole base restored, but --exclude {outside[0]} lies outside the head "
                f"{head}; drop {CACHE_FLAG} or exclude only scopes under {head}.")
    if config.num_clones > 1:
        return f"{CACHE_FLAG} trains the head on one device; drop --num_clones or {CACHE_FLAG}."
    if data.tfrecord.is_streamed(config.dataset, config.dataset_dir):
        return (f"{CACHE_FLAG} keeps the features of a dataset held in memory; {config.dataset}'s TFRecords are "
                f"streamed: drop {CACHE_FLAG}.")
    if workers > 1:
        return f"{CACHE_FLAG} trains the head in one process; drop {CACHE_FLAG}, or train without a cluster."
    if config.augment:
        return (f"{CACHE_FLAG} computes each image's features once, so random augmentation cannot apply; pass "
                f"--noaugment, or drop {CACHE_FLAG}.")
    precision = "mixed_float16" if config.mixed_precision else config.precision  # the alias, if unchecked
    if precision != "float32":
        return f"{CACHE_FLAG} extracts and trains in float32; drop --precision {precision} or {CACHE_FLAG}."
    return None


def cache_dir(config):
    return config.cache_dir or DEFAULT_CACHE_DIR


def use_cache(config, workers=1):
    """Whether a run of `config` (checked) trains on cached features.

    cache_features False: no. True: yes, and a one-line TlslimError if the run cannot (not the
    head strategy, a trainable or excluded scope outside the head, augmentation, mixed
    precision). None (the default): yes exactly when the strategy is head, augmentation is off
    (`augment` False) and nothing above stands in the way.
    """
    if config.cache_features is False:
        return False
    problem = cache_problem(config, workers=workers)
    if config.cache_features is None:
        return problem is None and config.augment is False
    if problem:
        raise TlslimError(problem)
    return True


class CachedHead(FullGraph):
    """The head trained on cached penultimate features: the frozen base runs once per image."""
    label = " (cached features)"

    def __init__(self, config, plan, train_set, test_set, image_size, device):
        super().__init__(config, plan, train_set, test_set, image_size, device)
        problem = cache_problem(config, plan.exclude)  # `--exclude auto` is resolved now
        if problem:
            raise TlslimError(problem)
        self.train_features = self.test_features = None

    def prepare(self):
        """Read the features from the cache, or extract them with the base as the release
        checkpoint has it (a resumed run's base is the same)."""
        c = self.config
        source = self.plan.checkpoint_path or c.checkpoint_path
        # The run's restore plan restores the base (a resumed run has none: extraction plans its own).
        common = dict(cache_dir=cache_dir(c), stats=style_stats(self.style, self.train_set),
                      scope_map=c.scope_map, device=c.device, restore_plan=self.plan.restore_plan, geometry=c.geometry)
        self.train_features = features.cached_features(c.model, source, self.train_set, "train", self.image_size,
                                                       self.style, train_subset=c.train_subset, seed=c.seed, **common)
        self.test_features = features.cached_features(c.model, source, self.test_set, "test", self.image_size,
                                                      self.style, **common)

    def build(self, start_step):
        c, size = self.config, self.image_size
        with tf.Graph().as_default():
            tf.set_random_seed(c.seed)
            tf.train.get_or_create_global_step()
            # Never fed: the base's ops read it, and no step of this graph runs them.
            images = tf.placeholder(tf.float32, [None, size, size, 3], name="images_not_fed")
            labels = tf.placeholder(tf.int64, [None], name="labels")
            # The auxiliary head reads the base, which never runs here.
            tg = build_towers(c, self.plan, self.train_set.num_classes, images, labels, images, self.device,
                              aux_loss=False, class_weights=self.class_weights)
            tg.inputs.update(labels=labels, features=restore.penultimate(tg.end_points),
                             eval_features=restore.penultimate(tg.eval_end_points))
        logging.info("training the head on cached features %s", tg.inputs["features"].name)
        return tg

    def session_config(self):
        """session_config() with Grappler's graph rewriting off: its constant folding turns the
        shape of a fed tensor into a constant with a control dependency on the op that produced
        it, which would run the whole base on the never-fed images placeholder. The head graph
        is a few small ops; it loses nothing without the rewrites."""
        config = session_config()
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        return config

    def step_fn(self, sess, tg, start_step):
        fs, c = self.train_features, self.config
        # The order tlslim.data.input_pipeline gives for the same seed and step (no augmentation).
        batches = data.index_batches(len(fs), c.batch_size, True, True, data_seed(c.seed, start_step),
                                     fs.labels if c.sampling == "balanced" else None)
        fetches, features_t, labels_t = tg.fetches, tg.inputs["features"], tg.inputs["labels"]

        def run_step():
            idx = np.sort(next(batches))  # sorted reads from a memory-mapped cache; the batch is a set
            return sess.run(fetches, {features_t: _feed_shape(features_t, np.asarray(fs.features[idx])),
                                      labels_t: fs.labels[idx]})[1:]
        return run_step

    def eval_pass(self, sess, tg, batch_size=1024):
        fs, tensor = self.test_features, tg.inputs["eval_features"]
        logits = [sess.run(tg.eval_logits, {tensor: _feed_shape(tensor, np.asarray(fs.features[i:i + batch_size]))})
                  for i in range(0, len(fs), batch_size)]
        return np.concatenate(logits).astype(np.float64), np.asarray(fs.labels)

    def summary(self):
        return {"train": self.train_features.path, "test": self.test_features.path,
                "extract_seconds": self.train_features.seconds + self.test_features.seconds,
                "extracted": {"train": self.train_features.extracted, "test": self.test_features.extracted}}


def _feed_shape(tensor, array):
    """Cached rows reshaped to the fed tensor's per-example shape (a cache stores them as extracted)."""
    return array.reshape((len(array),) + tuple(tensor.shape.as_list()[1:]))

