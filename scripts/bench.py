"""Benchmark of tlslim's training paths against the course notebook's loop and Keras, as ratios.

    python scripts/bench.py                        # small: CPU minutes, SYNTHETIC data
    python scripts/bench.py --preset full --checkpoint_path vgg_16.ckpt --dataset cifar10 \\
        --dataset_dir data --device gpu            # VGG-16 at 224

Everything runs in this one process on this machine, and what is compared is reported as ratios
(absolute numbers go to the JSON file too, but they describe this machine only).

The head-only parts (1 and 2) need features that carry signal, or "equal accuracy" compares two
chance-level numbers: with --checkpoint_path they use --model and that checkpoint; without one
they use the embedded CifarNet (checkpoints/cifarnet_synthetic, pretrained on the SYNTHETIC
source task). The full fine-tune parts (3 and 4) use --model (default vgg_16) with
--checkpoint_path or a SYNTHETIC release-format checkpoint (random values: throughput does not
depend on them).

1. baseline -- the course notebook's loop: the net built once on an images placeholder, numpy
   batches of preprocessed images through feed_dict, the whole network's forward pass on every
   step; head-only training (var_list = the head) and full fine-tuning (var_list = all). The
   head runs twice: with the frozen base in inference mode (what the cache computes; compared)
   and with `is_training` fed True as in the notebook, dropout on in the frozen base (reported).
2. cached -- `tlslim.features.train_cached` (strategy head): features extracted once (the first
   epoch's cost), then the same head, optimizer and schedule on the cache. Compared: time per
   epoch after the first, accuracy after the same number of epochs (target: within 1 point), and
   total time until the cached run first reaches the baseline's final accuracy (minus 1 point).
   Both use a cosine learning-rate decay by default, so the final accuracies are those of the
   settled head rather than of wherever the last noisy steps left it.
3. full fine-tuning throughput (images/s) of tlslim's training graph (`tlslim.train.build_train_graph`,
   strategy all, tf.data input, the loop's fetches) against (a) VGG-16 trained with Keras `fit()`
   on the same preprocessed images and batch size, SGD with momentum: the target compares with
   `keras.applications.VGG16(include_top=True, weights=None)` as a Keras user builds it (at 32x32
   its fc1 is a Dense layer on the 512 pool5 features, the FLOPs of tlslim's fc6 there; at 224 on
   25088, exactly fc6), at Keras's default `jit_compile` (plus XLA with --keras_xla, the faster
   taken); for information also with the Applications conv base plus slim's convolutional top
   and weight decay (fc6 7x7, fc7 and fc8 1x1 convolutions: tlslim's variables) -- and (b) the
   baseline loop.
4. achieved GFLOP/s of the full fine-tune step against a large float32 matmul timed in the same
   run (the machine's practical peak, measured before and after, best taken). The step's FLOPs
   are counted from the graph: every Conv2D and MatMul of the forward pass, 2 x multiply-adds,
   counting only the kernel taps that fall inside the input (a 'SAME' convolution's taps over
   padding multiply zeros), times 3 for forward + backward (the backward pass computes the
   gradients with respect to both inputs and weights, each a forward's worth of multiply-adds).
   The count with every tap is reported too.

Targets (from issue 7): cached head epochs >= 20x faster than the baseline at equal accuracy
(+-1 point); full fine-tune >= 1.0x Keras and >= 1.3x the baseline; >= 50% of the matmul peak.
The small default takes a few minutes on 2 CPU cores. Other programs running at the same time
skew every number: the load average is recorded at the start and the end.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from absl import flags, logging  # noqa: E402

from tlslim import cli, data, features, nets, restore, train  # noqa: E402
from tlslim.compare import EMBEDDED_CHECKPOINT, EMBEDDED_MODEL  # noqa: E402
from tlslim.compat import graph_mode, slim, tf  # noqa: E402
from tlslim.device import choose_device, session_config  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402
from tlslim.scopes import in_scope  # noqa: E402

PRESETS = {
    # A few minutes on 2 CPU cores.
    "small": dict(model="vgg_16", image_size=32, train_subset=50, test_examples=1000, batch_size=32, epochs=40,
                  full_images=128, matmul_size=2048),
    # The full size: VGG-16 at 224 (meant for a GPU).
    "full": dict(model="vgg_16", image_size=224, train_subset=100, test_examples=1000, batch_size=32, epochs=5,
                 full_images=1024, matmul_size=8192),
}

flags.DEFINE_enum("preset", "small", list(PRESETS), "Sizes: small (default, minutes on a CPU) or full (VGG-16 at 224).")
flags.DEFINE_string("output", os.path.join("runs", "bench.json"), "Where the JSON results go.")
flags.DEFINE_string("model", None, "Network (default: the preset's, vgg_16).")
flags.DEFINE_integer("image_size", None, "Input size (default: the preset's).")
flags.DEFINE_string("checkpoint_path", None, "Pretrained checkpoint of --model; default: a SYNTHETIC release-format "
                                             "one (random values) written to a temporary directory.")
flags.DEFINE_string("head_model", None, "Net of the head-only parts (baseline head epochs, cached features); default: "
                                        "--model with --checkpoint_path, else the embedded cifarnet.")
flags.DEFINE_string("head_checkpoint_path", None, "Checkpoint of --head_model when it differs from --model; default "
                                                  "for cifarnet: the embedded checkpoints/cifarnet_synthetic.")
flags.DEFINE_string("dataset", "synthetic", "Dataset (default: the SYNTHETIC procedurally generated task).")
flags.DEFINE_string("dataset_dir", None, "Dataset directory (cifar10, folder).")
flags.DEFINE_integer("train_subset", None, "Training images per class (default: the preset's).")
flags.DEFINE_integer("test_examples", None, "Test images (default: the preset's).")
flags.DEFINE_integer("batch_size", None, "Batch size of every training loop (default: the preset's).")
flags.DEFINE_integer("epochs", None, "Head-training epochs, baseline and cached (default: the preset's).")
flags.DEFINE_integer("full_images", None, "Images per timed full fine-tune run, after a warm-up (default: preset).")
flags.DEFINE_integer("rounds", 3, "Timed rounds of --full_images per full fine-tune system; the fastest counts.")
flags.DEFINE_integer("matmul_size", None, "n of the n x n float32 matmul measuring the peak (default: preset).")
flags.DEFINE_enum("optimizer", "momentum", list(train.OPTIMIZERS), "Optimizer of every training loop.")
flags.DEFINE_float("learning_rate", 0.003, "Learning rate of the head-only runs (baseline and cached).")
flags.DEFINE_enum("lr_decay", "cosine", list(train.LR_DECAYS),
                  "Schedule of the head-only runs; cosine (the default) lets both runs settle on the optimum, so "
                  "their accuracies compare without the noise of the last steps.")
flags.DEFINE_float("full_learning_rate", 1e-6, "Learning rate of the timed full fine-tune steps.")
flags.DEFINE_float("weight_decay", 0.0005, "L2 weight decay (VGG's release value).")
flags.DEFINE_string("device", "auto", "auto, cpu or gpu.")
flags.DEFINE_list("parts", "head,full,keras,peak", "Parts to run: head (1, 2), full (3 with the baseline loop), keras "
                                                 "(3a), peak (4).")
flags.DEFINE_bool("keras_xla", False, "Also time the Keras Applications model with jit_compile=True (XLA).")
flags.DEFINE_string("work_dir", None, "Scratch directory (checkpoints, cache); default: a temporary one, deleted.")
flags.DEFINE_integer("seed", 0, "Random seed.")

FLAGS = flags.FLAGS


# ---------------------------------------------------------------- setup

def _settings():
    s = dict(PRESETS[FLAGS.preset])
    for name in list(s):
        if FLAGS[name].value is not None:
            s[name] = FLAGS[name].value
    s.update(dataset=FLAGS.dataset, dataset_dir=FLAGS.dataset_dir, optimizer=FLAGS.optimizer,
             weight_decay=FLAGS.weight_decay, device=FLAGS.device, seed=FLAGS.seed,
             full_learning_rate=FLAGS.full_learning_rate, lr_decay=FLAGS.lr_decay, rounds=FLAGS.rounds)
    s["synthetic_checkpoint"] = FLAGS.checkpoint_path is None
    s["learning_rate"] = FLAGS.learning_rate
    # Random weights carry next to no signal through 16 layers (a ridge probe on SYNTHETIC vgg_16
    # features scored 16% on the 10-class task), so without a real checkpoint the head-only
    # comparison runs on the embedded pretrained CifarNet, where accuracy means something.
    s["head_model"] = FLAGS.head_model or (EMBEDDED_MODEL if s["synthetic_checkpoint"] else s["model"])
    s["head_checkpoint"] = FLAGS.head_checkpoint_path or (EMBEDDED_CHECKPOINT if s["head_model"] == EMBEDDED_MODEL
                                                          else None)
    if s["head_model"] != s["model"] and s["head_checkpoint"] is None:
        raise TlslimError(f"--head_model {s['head_model']} needs --head_checkpoint_path.")
    return s


def _preprocessed(dataset, image_size, style, stats):
    """float32 [N, S, S, 3] of the evaluation preprocessing (what the notebook fed and Keras fits on)."""
    out = []
    with tf.Graph().as_default():
        x = tf.placeholder(tf.uint8, [None] + list(dataset.images.shape[1:]))
        y = data.preprocess(x, style, image_size, is_training=False, stats=stats)
        with tf.Session(config=session_config()) as sess:
            for start in range(0, len(dataset), 256):
                out.append(sess.run(y, {x: dataset.images[start:start + 256]}))
    return np.concatenate(out)


def _best_time(fn, rounds):
    """The fastest of `rounds` timed calls of fn: this machine's timings swing by a third from
    one second to the next, and the minimum is the least disturbed."""
    return min(_time(fn) for _ in range(rounds))


def _time(fn, repeat=1):
    tic = time.perf_counter()
    for _ in range(repeat):
        fn()
    return time.perf_counter() - tic


# ---------------------------------------------------------------- FLOPs counted from the graph

def _taps(n_in, n_out, k, stride, padding):
    """Kernel taps inside the input, summed over the output positions along one axis."""
    if padding == b"VALID" or padding == "VALID":
        return n_out * k
    pad = max((n_out - 1) * stride + k - n_in, 0) // 2
    starts = np.arange(n_out) * stride - pad
    return int(sum(np.clip(s + k, 0, n_in) - np.clip(s, 0, n_in) for s in starts))


def _out_size(n_in, k, stride, padding):
    """Output length of a convolution along one axis (TF's SAME and VALID rules)."""
    return -(-n_in // stride) if padding in ("SAME", b"SAME") else (n_in - k) // stride + 1


def forward_flops(model, num_classes, image_size):
    """(useful, nominal) FLOPs of one image's forward pass: 2 x multiply-adds of every Conv2D and
    MatMul, counting only in-bounds taps (useful) or every tap (nominal)."""
    useful = nominal = 0
    with tf.Graph().as_default() as g:
        nets.get_network_fn(model, num_classes)(tf.placeholder(tf.float32, [1, image_size, image_size, 3]))
        for op in g.get_operations():
            if op.type == "Conv2D":
                _, h_in, w_in, c_in = op.inputs[0].shape.as_list()
                kh, kw, _, c_out = op.inputs[1].shape.as_list()
                _, h_out, w_out, _ = op.outputs[0].shape.as_list()
                strides, padding = op.get_attr("strides"), op.get_attr("padding")
                if op.get_attr("dilations") != [1, 1, 1, 1] or op.get_attr("data_format") != b"NHWC":
                    raise RuntimeError(f"FLOP count does not handle {op.name}")
                nominal += 2 * h_out * w_out * kh * kw * c_in * c_out
                useful += 2 * _taps(h_in, h_out, kh, strides[1], padding) * \
                    _taps(w_in, w_out, kw, strides[2], padding) * c_in * c_out
            elif op.type == "MatMul":
                m, k = op.inputs[0].shape.as_list()
                n = op.outputs[0].shape.as_list()[1]
                useful += 2 * m * k * n
                nominal += 2 * m * k * n
            elif op.type in ("DepthwiseConv2dNative", "Conv3D", "BatchMatMulV2"):
                raise RuntimeError(f"FLOP count does not handle {op.type}")
    return useful, nominal


def matmul_peak(n, device, seconds=3.0):
    """GFLOP/s of an n x n float32 matmul in a graph session (best of repeated timed runs)."""
    with tf.Graph().as_default():
        with tf.device(device):
            a = tf.Variable(tf.random.uniform([n, n], seed=1))
            b = tf.Variable(tf.random.uniform([n, n], seed=2))
            # A reduction of the product: grappler prunes a product that is only a control input.
            op = tf.reduce_sum(tf.matmul(a, b))
        with tf.Session(config=session_config()) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(op)
            best, spent, runs = float("inf"), 0.0, 0
            while spent < seconds or runs < 3:
                t = _time(lambda: sess.run(op))
                best, spent, runs = min(best, t), spent + t, runs + 1
    return 2.0 * n ** 3 / best / 1e9


# ---------------------------------------------------------------- 1. the baseline loop (the notebook)

def _notebook_graph(s, model, ckpt, num_classes, learning_rate, head_only, steps=None):
    """The notebook's graph: the net on placeholders, slim's total loss, one minimize op (with
    the head runs' learning-rate schedule over `steps` when given)."""
    info = nets.get_info(model)
    size = s["image_size"]
    tf.set_random_seed(s["seed"])
    images = tf.placeholder(tf.float32, [None, size, size, 3], name="images")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    is_training = tf.placeholder(tf.bool, [], name="is_training")
    with tf.device(choose_device(s["device"])):
        logits, _ = nets.get_network_fn(model, num_classes, is_training=is_training,
                                        weight_decay=s["weight_decay"])(images)
        tf.losses.sparse_softmax_cross_entropy(labels, logits)
        loss = tf.losses.get_total_loss()
        var_list = [v for v in tf.trainable_variables() if in_scope(v.op.name, [info.head_scope])] \
            if head_only else None
        global_step = tf.train.get_or_create_global_step()
        if steps:
            learning_rate = train.learning_rate_schedule(
                train.TrainConfig(learning_rate=learning_rate, lr_decay=s["lr_decay"], max_steps=steps), global_step)
        train_op = train.make_optimizer(s["optimizer"], learning_rate).minimize(loss, global_step, var_list=var_list)
    base = [v for v in slim.get_model_variables() if not in_scope(v.op.name, [info.head_scope])]
    init_fn = restore.make_init_fn(ckpt, base)
    init_rest = tf.variables_initializer([v for v in tf.global_variables() if v not in set(base)])
    return images, labels, is_training, logits, train_op, lambda sess: (sess.run(init_rest), init_fn(sess))


def baseline_head(s, ckpt, num_classes, x_train, y_train, x_test, y_test, train_mode=True):
    """The notebook's head-only loop: every step feeds a numpy batch and runs the whole net.

    train_mode: `is_training` fed to the training steps. True is the notebook (dropout on in the
    frozen base too); False runs the frozen base in inference mode, as the cached features are.
    """
    out = {}
    with tf.Graph().as_default():
        images, labels, is_training, logits, head_op, init = _notebook_graph(
            s, s["head_model"], ckpt, num_classes, s["learning_rate"], head_only=True,
            steps=s["epochs"] * (len(x_train) // s["batch_size"]))
        prediction = tf.argmax(logits, 1)
        with tf.Session(config=session_config()) as sess:
            out["setup_seconds"] = _time(lambda: init(sess))
            rng = np.random.default_rng(s["seed"])
            B = s["batch_size"]
            epochs = []
            for epoch in range(s["epochs"]):
                order = rng.permutation(len(x_train))
                tic = time.perf_counter()
                for start in range(0, len(order) - B + 1, B):  # full batches, as tlslim's pipeline
                    idx = order[start:start + B]
                    sess.run(head_op, {images: x_train[idx], labels: y_train[idx], is_training: train_mode})
                epochs.append(time.perf_counter() - tic)
            tic = time.perf_counter()
            predicted = np.concatenate([sess.run(prediction, {images: x_test[i:i + 100], is_training: False})
                                        for i in range(0, len(x_test), 100)])
            out["eval_seconds"] = time.perf_counter() - tic
    out["head_top1"] = float(np.mean(predicted == y_test))
    out["head_epoch_seconds"] = epochs
    logging.info("baseline head (is_training %s): top-1 %.4f after %d epochs, %.3f s per epoch after the first",
                 train_mode, out["head_top1"], len(epochs), np.mean(epochs[1:] or epochs))
    return out


def baseline_full(s, ckpt, num_classes, x_full, y_full):
    """The notebook's loop fine-tuning every layer: images/s after a warm-up step."""
    with tf.Graph().as_default():
        images, labels, is_training, _, full_op, init = _notebook_graph(
            s, s["model"], ckpt, num_classes, s["full_learning_rate"], head_only=False)
        B = s["batch_size"]
        feeds = [{images: x_full[i:i + B], labels: y_full[i:i + B], is_training: True}
                 for i in range(0, len(x_full), B)]
        with tf.Session(config=session_config()) as sess:
            init(sess)
            sess.run(full_op, feeds[0])  # warm-up
            seconds = _best_time(lambda: [sess.run(full_op, feed) for feed in feeds], s["rounds"])
    out = {"full_images_per_second": len(x_full) / seconds}
    logging.info("baseline full fine-tune: %.2f images/s", out["full_images_per_second"])
    return out


# ---------------------------------------------------------------- 2. tlslim head on cached features

def cached(s, ckpt, work_dir, steps_per_epoch):
    config = train.TrainConfig(
        model=s["head_model"], checkpoint_path=ckpt, exclude="auto", strategy="head", dataset=s["dataset"],
        dataset_dir=s["dataset_dir"], image_size=s["image_size"], train_subset=s["train_subset"],
        batch_size=s["batch_size"], max_steps=s["epochs"] * steps_per_epoch, optimizer=s["optimizer"],
        learning_rate=s["learning_rate"], lr_decay=s["lr_decay"], weight_decay=s["weight_decay"],
        eval_every_steps=steps_per_epoch,
        eval_examples=s["test_examples"], augment=False, log_every_steps=steps_per_epoch,
        save_every_steps=10 ** 9, seed=s["seed"], device=s["device"], train_dir=os.path.join(work_dir, "cached"))
    cache_dir = os.path.join(work_dir, "feature_cache")
    cold = features.train_cached(config, cache_dir=cache_dir)
    # The same run again from scratch, the cache now warm.
    shutil.rmtree(config.train_dir)
    warm = features.train_cached(config, cache_dir=cache_dir)
    return {"cold": _cached_summary(cold, steps_per_epoch), "warm": _cached_summary(warm, steps_per_epoch)}


def _cached_summary(result, steps_per_epoch):
    history = [{"epoch": h["step"] // steps_per_epoch, "top1": h["top1"], "seconds": h["seconds"]}
               for h in result["history"] if h["step"] % steps_per_epoch == 0 and h["step"] > 0]
    epochs = len(history)
    return {"top1": result["top1"], "seconds": result["seconds"], "extract_seconds": result["cache"]["extract_seconds"],
            "extracted": result["cache"]["extracted"], "train_seconds": result["train_seconds"],
            "epoch_seconds": result["train_seconds"] / max(epochs, 1), "history": history}


# ---------------------------------------------------------------- 3. tlslim full fine-tuning

def tlslim_full(s, ckpt, train_set, test_set, steps):
    config = train.check_config(train.TrainConfig(
        model=s["model"], checkpoint_path=ckpt, exclude="auto", strategy="all", dataset=s["dataset"],
        image_size=s["image_size"], batch_size=s["batch_size"], max_steps=steps, optimizer=s["optimizer"],
        learning_rate=s["full_learning_rate"], weight_decay=s["weight_decay"], augment=False, seed=s["seed"],
        device=s["device"]))
    plan = train.make_plan(config, train_set.num_classes, s["image_size"])
    tg = train.build_train_graph(config, plan, train_set, test_set)
    init_fn = restore.make_init_fn(plan.checkpoint_path, tg.restore_vars)
    fetches = [tg.train_op, tg.loss, tg.accuracy, tg.learning_rate, tg.step_after]  # what train.train's loop runs
    with tf.Session(graph=tg.graph, config=session_config()) as sess:
        sess.run(tg.init_op)
        init_fn(sess)
        sess.run(fetches)  # warm-up
        seconds = _best_time(lambda: [sess.run(fetches) for _ in range(steps)], s["rounds"])
    return {"images_per_second": steps * s["batch_size"] / seconds}


# ---------------------------------------------------------------- Keras

def keras_applications_model(s, num_classes):
    """keras.applications.VGG16 as a Keras user builds it: include_top=True, no weights, logits out.
    At 32x32 its top is Flatten -> Dense(4096) -> Dense(4096) -> Dense(classes); it has no weight decay."""
    import keras

    size = s["image_size"]
    return keras.applications.VGG16(include_top=True, weights=None, input_shape=(size, size, 3),
                                    classes=num_classes, classifier_activation=None)


def keras_same_graph_model(s, num_classes):
    """keras.applications.VGG16's conv base (same layers; checked: same parameter count) + slim's
    convolutional top, with slim's weight decay: the parameters and FLOPs of the tlslim net."""
    import keras
    from keras import layers

    size = s["image_size"]
    reg = keras.regularizers.L2(s["weight_decay"] / 2)  # slim's l2_regularizer(wd) is wd * sum(w^2) / 2
    conv = dict(activation="relu", padding="same", kernel_regularizer=reg)
    model = keras.Sequential(name="vgg16_slim_top")
    model.add(keras.Input((size, size, 3)))
    for block, (repeats, width) in enumerate(zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512)), start=1):
        for i in range(1, repeats + 1):
            model.add(layers.Conv2D(width, 3, name=f"block{block}_conv{i}", **conv))
        model.add(layers.MaxPooling2D(2, 2, name=f"block{block}_pool"))
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(size, size, 3))
    if model.count_params() != reference.count_params():
        raise RuntimeError("the Keras conv base differs from keras.applications.VGG16")
    pool5 = size // 32
    fc6_padding = "valid" if pool5 >= 7 else "same"  # as tlslim's vgg chooses from the map size
    model.add(layers.Conv2D(4096, 7, name="fc6", **{**conv, "padding": fc6_padding}))
    model.add(layers.Dropout(0.5))
    model.add(layers.Conv2D(4096, 1, name="fc7", **conv))
    if (pool5 if fc6_padding == "same" else pool5 - 6) != 1:
        model.add(layers.GlobalAveragePooling2D(keepdims=True))
    model.add(layers.Dropout(0.5))
    model.add(layers.Conv2D(num_classes, 1, name="fc8", kernel_regularizer=reg))
    model.add(layers.Flatten())
    return model


def keras_fit(s, build, num_classes, x, y, jit_compile="auto"):
    """images/s of model.fit on (x, y) after a one-batch warm-up fit (tracing and compiling)."""
    import keras

    keras.utils.set_random_seed(s["seed"])
    model = build(s, num_classes)
    model.compile(optimizer=keras.optimizers.SGD(s["full_learning_rate"], momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit_compile)
    B = s["batch_size"]
    model.fit(x[:B], y[:B], batch_size=B, epochs=1, verbose=0, shuffle=False)
    seconds = _best_time(lambda: model.fit(x, y, batch_size=B, epochs=1, verbose=0, shuffle=True), s["rounds"])
    result = {"model": model.name, "images_per_second": len(x) / seconds, "jit_compile": bool(model.jit_compile),
              "parameters": int(model.count_params())}
    logging.info("keras fit (%s, jit_compile=%s): %.2f images/s", result["model"], result["jit_compile"],
                 result["images_per_second"])
    return result


# ---------------------------------------------------------------- the run

def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main(argv):
    if len(argv) > 1:
        raise TlslimError(f"unexpected arguments {' '.join(argv[1:])}; all options are --flags.")
    s = _settings()
    parts = set(FLAGS.parts)
    if "keras" in parts:
        # cli.run switched the process to graph mode, but nothing has built a graph yet; Keras 3
        # needs eager execution, so it runs first with eager back on, then graph mode returns.
        tf.enable_eager_execution()
    unknown = parts - {"head", "full", "keras", "peak"}
    if unknown:
        raise TlslimError(f"--parts: unknown part(s) {', '.join(sorted(unknown))}; use head,full,keras,peak.")
    info = nets.get_info(s["model"])
    work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix="tlslim_bench_")
    os.makedirs(work_dir, exist_ok=True)
    report = {"settings": s, "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                                         "tensorflow": tf.__version__, "load_average_start": os.getloadavg()}}
    started = time.time()
    try:
        # Data and checkpoint.
        train_set = data.load(s["dataset"], s["dataset_dir"], split="train", train_subset=s["train_subset"],
                              seed=s["seed"])
        test_set = train.first_examples(data.load(s["dataset"], s["dataset_dir"], split="test"), s["test_examples"])
        num_classes = train_set.num_classes
        B = s["batch_size"]
        steps_per_epoch = len(train_set) // B
        if steps_per_epoch < 1:
            raise TlslimError(f"{len(train_set)} training images is less than one batch of {B}; raise --train_subset.")
        report["data"] = {"dataset": s["dataset"], "synthetic": s["dataset"].startswith("synthetic"),
                          "train_images": len(train_set), "test_images": len(test_set), "num_classes": num_classes}
        if not parts & {"full", "keras"} and s["head_model"] != s["model"]:
            ckpt = None  # no part runs --model
        elif s["synthetic_checkpoint"]:
            logging.info("writing a SYNTHETIC %s checkpoint (release format, random values)", s["model"])
            ckpt = os.path.join(work_dir, "synthetic", info.checkpoint_file or f"{s['model']}.ckpt")
            from tlslim.testing import checkpoints
            checkpoints.write_net_checkpoint(s["model"], ckpt, seed=s["seed"])
        else:
            ckpt = restore.resolve_checkpoint(FLAGS.checkpoint_path)
        head_ckpt = ckpt if s["head_model"] == s["model"] else restore.resolve_checkpoint(s["head_checkpoint"])
        report["checkpoint"] = {"path": ckpt, "synthetic": s["synthetic_checkpoint"], "head_path": head_ckpt}

        def preprocessed(model, dataset):
            style = nets.get_info(model).preprocessing
            return _preprocessed(dataset, s["image_size"], style, train.style_stats(style, train_set))

        if "head" in parts:
            x_train, x_test = preprocessed(s["head_model"], train_set), preprocessed(s["head_model"], test_set)
        n_full = max(B, min(s["full_images"], len(train_set)) // B * B)
        x_full = preprocessed(s["model"], train_set.subset(np.arange(n_full) % len(train_set)))
        y_full = train_set.labels[np.arange(n_full) % len(train_set)]

        # Keras runs eagerly: before the process switches to graph mode.
        if "keras" in parts:
            if s["model"] != "vgg_16":
                raise TlslimError("the Keras comparison is VGG-16's; use --model vgg_16 or leave keras out of --parts.")
            if s["optimizer"] != "momentum":
                raise TlslimError("the Keras comparison uses SGD with momentum; use --optimizer momentum.")
            applications = keras_fit(s, keras_applications_model, num_classes, x_full, y_full)
            same = keras_fit(s, keras_same_graph_model, num_classes, x_full, y_full)
            report["keras"] = {"applications": applications, "same_graph": same}
            if FLAGS.keras_xla:
                report["keras"]["applications_xla"] = keras_fit(s, keras_applications_model, num_classes, x_full,
                                                                y_full, jit_compile=True)
        graph_mode()

        peaks = []
        if "peak" in parts:
            peaks.append(matmul_peak(s["matmul_size"], choose_device(s["device"])))
        if "head" in parts:
            head_data = (num_classes, x_train, train_set.labels, x_test, test_set.labels)
            report["baseline"] = baseline_head(s, head_ckpt, *head_data, train_mode=False)
            report["baseline"]["notebook_dropout"] = baseline_head(s, head_ckpt, *head_data, train_mode=True)
            report["cached"] = cached(s, head_ckpt, work_dir, steps_per_epoch)
        if "full" in parts:
            report.setdefault("baseline", {}).update(baseline_full(s, ckpt, num_classes, x_full, y_full))
            report["tlslim_full"] = tlslim_full(s, ckpt, train_set, test_set, n_full // B)
            useful, nominal = forward_flops(s["model"], num_classes, s["image_size"])
            step = report["tlslim_full"]
            step["forward_gflop_per_image"] = useful / 1e9
            step["forward_gflop_per_image_all_taps"] = nominal / 1e9
            step["gflop_per_second"] = 3 * useful / 1e9 * step["images_per_second"]
            step["gflop_per_second_all_taps"] = 3 * nominal / 1e9 * step["images_per_second"]
        if "peak" in parts:
            peaks.append(matmul_peak(s["matmul_size"], choose_device(s["device"])))
            report["matmul_peak"] = {"n": s["matmul_size"], "gflop_per_second_runs": peaks,
                                     "gflop_per_second": max(peaks)}
    finally:
        if not FLAGS.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    report["machine"]["load_average_end"] = os.getloadavg()
    report["seconds"] = time.time() - started
    report["ratios"] = ratios(report)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    print(format_report(report))
    print(f"results: {FLAGS.output}")


def ratios(report):
    """The compared quantities and whether each meets the issue's target (None: not measured)."""
    out = {}
    base, cache = report.get("baseline"), report.get("cached")
    if base and cache and "head_top1" in base:
        cold = cache["cold"]
        base_epoch = float(np.mean(base["head_epoch_seconds"][1:] or base["head_epoch_seconds"]))
        out["head_epoch_speedup"] = _ratio(base_epoch, cold["epoch_seconds"])
        out["head_accuracy_points"] = 100 * (cold["top1"] - base["head_top1"])
        base_total = base["setup_seconds"] + sum(base["head_epoch_seconds"])
        reached = [h for h in cold["history"] if h["top1"] >= base["head_top1"] - 0.01]
        out["head_time_to_accuracy_speedup"] = _ratio(base_total, reached[0]["seconds"]) if reached else None
        out["head_time_to_accuracy_speedup_warm_cache"] = next(
            (_ratio(base_total, h["seconds"]) for h in cache["warm"]["history"]
             if h["top1"] >= base["head_top1"] - 0.01), None)
        out["head_target_met"] = bool(out["head_epoch_speedup"] >= 20 and abs(out["head_accuracy_points"]) <= 1)
        notebook = base.get("notebook_dropout")
        if notebook:
            out["head_accuracy_points_vs_notebook_dropout"] = 100 * (cold["top1"] - notebook["head_top1"])
    full = report.get("tlslim_full")
    if full:
        keras = report.get("keras")
        if keras:
            # The Keras Applications model at Keras's default compile setting (or with XLA, if faster).
            best = max(keras[k]["images_per_second"] for k in ("applications", "applications_xla") if k in keras)
            out["full_vs_keras"] = _ratio(full["images_per_second"], best)
            out["full_vs_keras_target_met"] = out["full_vs_keras"] >= 1.0
            out["full_vs_keras_same_graph"] = _ratio(full["images_per_second"],
                                                     keras["same_graph"]["images_per_second"])
        if base and "full_images_per_second" in base:
            out["full_vs_baseline"] = _ratio(full["images_per_second"], base["full_images_per_second"])
            out["full_vs_baseline_target_met"] = out["full_vs_baseline"] >= 1.3
        peak = report.get("matmul_peak")
        if peak:
            out["full_peak_fraction"] = _ratio(full["gflop_per_second"], peak["gflop_per_second"])
            out["full_peak_fraction_all_taps"] = _ratio(full["gflop_per_second_all_taps"], peak["gflop_per_second"])
            out["full_peak_target_met"] = out["full_peak_fraction"] >= 0.5
    return out


def format_report(report):
    s, r = report["settings"], report["ratios"]
    d = report["data"]
    lines = [f"{d['train_images']} train / {d['test_images']} test images of {d['dataset']}"
             + (" (SYNTHETIC data)" if d["synthetic"] else "") + f", {s['image_size']}x{s['image_size']}, "
             f"batch {s['batch_size']}",
             f"  head-only parts: {s['head_model']}"
             + (" (embedded checkpoint: pretrained on the SYNTHETIC source task)" if s["head_model"] == EMBEDDED_MODEL
                and s["head_checkpoint"] == EMBEDDED_CHECKPOINT else ""),
             f"  full fine-tune parts: {s['model']}"
             + (" (SYNTHETIC checkpoint: random weights)" if report["checkpoint"]["synthetic"] else ""),
             f"load average {report['machine']['load_average_start'][0]:.1f} at the start, "
             f"{report['machine']['load_average_end'][0]:.1f} at the end, on {report['machine']['cpu_count']} cores"]

    def row(label, value, target, met):
        if value is None:
            return f"  {label:<52} not measured"
        flag = "" if met is None else ("  ok" if met else "  MISSED")
        return f"  {label:<52} {value:8.2f}  (target {target}){flag}"

    if "head_epoch_speedup" in r:
        base, cold = report["baseline"], report["cached"]["cold"]
        lines.append(row("head epoch after the first: baseline / cached", r["head_epoch_speedup"], ">= 20x",
                         r["head_epoch_speedup"] >= 20))
        lines.append(row("head accuracy: cached - baseline (points)", r["head_accuracy_points"], "within +-1",
                         abs(r["head_accuracy_points"]) <= 1))
        lines.append(f"    top-1 after {s['epochs']} epochs: baseline {base['head_top1']:.4f}, cached {cold['top1']:.4f}"
                     " (frozen base in inference mode in both)")
        if "head_accuracy_points_vs_notebook_dropout" in r:
            lines.append(row("  cached - notebook loop with dropout on in the base",
                             r["head_accuracy_points_vs_notebook_dropout"], "info", None))
        value = r["head_time_to_accuracy_speedup"]
        lines.append(row("time to the baseline's accuracy: baseline / cached", value, "info", None))
        warm = r["head_time_to_accuracy_speedup_warm_cache"]
        lines.append(row("  same, features already cached", warm, "info", None))
    if "full_vs_keras" in r:
        lines.append(row("full fine-tune images/s: tlslim / Keras Applications fit", r["full_vs_keras"], ">= 1.0x",
                         r["full_vs_keras_target_met"]))
        lines.append(row("  tlslim / Keras with tlslim's conv top (same FLOPs)", r["full_vs_keras_same_graph"],
                         "info", None))
    if "full_vs_baseline" in r:
        lines.append(row("full fine-tune images/s: tlslim / baseline loop", r["full_vs_baseline"], ">= 1.3x",
                         r["full_vs_baseline_target_met"]))
    if "full_peak_fraction" in r:
        lines.append(row("full fine-tune GFLOP/s / matmul peak", r["full_peak_fraction"], ">= 0.5",
                         r["full_peak_target_met"]))
        lines.append(row("  same, counting every tap (padding too)", r["full_peak_fraction_all_taps"], "info", None))
    return "\n".join(lines)


if __name__ == "__main__":
    cli.run(main)
