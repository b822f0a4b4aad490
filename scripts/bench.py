"""Benchmark of tlslim's training paths against the course notebook's loop and Keras, as ratios.

    python scripts/bench.py                        # small: vgg_16 at 32x32, SYNTHETIC data and checkpoint
    python scripts/bench.py --preset full --checkpoint_path vgg_16.ckpt --dataset cifar10 \\
        --dataset_dir data --device gpu            # VGG-16 at 224

Everything runs in this one process on this machine, and what is compared is reported as ratios
(absolute numbers go to the JSON file too, but they describe this machine only):

1. baseline -- the course notebook's loop: the same net built once on an images placeholder,
   numpy batches of preprocessed images through feed_dict, the whole network's forward pass on
   every step; head-only training (var_list = the head) and full fine-tuning (var_list = all).
   Dropout is on in training, as in the notebook (`is_training` fed True).
2. cached -- `tlslim.features.train_cached` (strategy head): features extracted once (the first
   epoch's cost), then the same head, optimizer and schedule on the cache. Compared: time per
   epoch after the first, accuracy after the same number of epochs (target: within 1 point), and
   total time until the cached run first reaches the baseline's final accuracy (minus 1 point).
3. full fine-tuning throughput (images/s) of tlslim's training graph (`tlslim.train.build_train_graph`,
   strategy all, tf.data input, the loop's fetches) against (a) the same net trained with Keras
   `fit()` -- keras.applications.VGG16's layers (checked: same parameter count as the Applications
   model) with the slim top as convolutions (fc6 7x7, fc7 1x1, fc8 1x1, so the parameters and the
   FLOPs are the tlslim net's), the same L2 weight decay, SGD with momentum and dropout; run with
   Keras's default `jit_compile` (XLA on TensorFlow) and without, and compared with the faster --
   and (b) the baseline loop.
4. achieved GFLOP/s of the full fine-tune step against a large float32 matmul timed in the same
   run (the machine's practical peak, measured before and after, best taken). The step's FLOPs
   are counted from the graph: every Conv2D and MatMul of the forward pass, 2 x multiply-adds,
   counting only the kernel taps that fall inside the input (a 'SAME' convolution's taps over
   padding multiply zeros; at 32x32 VGG's fc6 is a 7x7 kernel over a 1x1 map, of which only
   the centre tap does work), times 3 for forward + backward (the backward pass computes the
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
from tlslim.compat import graph_mode, slim, tf  # noqa: E402
from tlslim.device import choose_device, session_config  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402
from tlslim.scopes import in_scope  # noqa: E402

PRESETS = {
    # ~3-5 minutes on 2 CPU cores.
    "small": dict(model="vgg_16", image_size=32, train_subset=30, test_examples=300, batch_size=32, epochs=4,
                  full_images=256, matmul_size=2048),
    # The full size: VGG-16 at 224 (meant for a GPU).
    "full": dict(model="vgg_16", image_size=224, train_subset=100, test_examples=1000, batch_size=32, epochs=5,
                 full_images=1024, matmul_size=8192),
}

flags.DEFINE_enum("preset", "small", list(PRESETS), "Sizes: small (default, minutes on a CPU) or full (VGG-16 at 224).")
flags.DEFINE_string("output", os.path.join("runs", "bench.json"), "Where the JSON results go.")
flags.DEFINE_string("model", None, "Network (default: the preset's, vgg_16).")
flags.DEFINE_integer("image_size", None, "Input size (default: the preset's).")
flags.DEFINE_string("checkpoint_path", None, "Pretrained checkpoint; default: a SYNTHETIC release-format one "
                                             "(random values) written to a temporary directory.")
flags.DEFINE_string("dataset", "synthetic", "Dataset (default: the SYNTHETIC procedurally generated task).")
flags.DEFINE_string("dataset_dir", None, "Dataset directory (cifar10, folder).")
flags.DEFINE_integer("train_subset", None, "Training images per class (default: the preset's).")
flags.DEFINE_integer("test_examples", None, "Test images (default: the preset's).")
flags.DEFINE_integer("batch_size", None, "Batch size of every training loop (default: the preset's).")
flags.DEFINE_integer("epochs", None, "Head-training epochs, baseline and cached (default: the preset's).")
flags.DEFINE_integer("full_images", None, "Images per timed full fine-tune run, after a warm-up (default: preset).")
flags.DEFINE_integer("matmul_size", None, "n of the n x n float32 matmul measuring the peak (default: preset).")
flags.DEFINE_enum("optimizer", "momentum", list(train.OPTIMIZERS), "Optimizer of every training loop.")
flags.DEFINE_float("learning_rate", None, "Head learning rate (default: 2e-6 with the SYNTHETIC checkpoint, whose "
                                          "random-weight features are large; 0.001 with a real one).")
flags.DEFINE_float("full_learning_rate", 1e-6, "Learning rate of the timed full fine-tune steps.")
flags.DEFINE_float("weight_decay", 0.0005, "L2 weight decay (VGG's release value).")
flags.DEFINE_string("device", "auto", "auto, cpu or gpu.")
flags.DEFINE_list("parts", "keras,baseline,cached,full,peak", "Parts to run (keras,baseline,cached,full,peak).")
flags.DEFINE_bool("keras_no_jit", True, "Also time Keras with jit_compile=False (the faster of the two is compared).")
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
             full_learning_rate=FLAGS.full_learning_rate)
    s["synthetic_checkpoint"] = FLAGS.checkpoint_path is None
    s["learning_rate"] = FLAGS.learning_rate or (2e-6 if s["synthetic_checkpoint"] else 0.001)
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
            product = tf.matmul(a, b)
            op = tf.group(product)
        with tf.Session(config=session_config()) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(op)
            best, spent, runs = float("inf"), 0.0, 0
            while spent < seconds or runs < 3:
                t = _time(lambda: sess.run(op))
                best, spent, runs = min(best, t), spent + t, runs + 1
    return 2.0 * n ** 3 / best / 1e9


# ---------------------------------------------------------------- 1. the baseline loop (the notebook)

def baseline(s, ckpt, num_classes, x_train, y_train, x_test, y_test, x_full, y_full):
    """The notebook's loop: head-only epochs, then timed full fine-tune steps, via feed_dict."""
    info = nets.get_info(s["model"])
    size = s["image_size"]
    out = {}
    with tf.Graph().as_default():
        tf.set_random_seed(s["seed"])
        images = tf.placeholder(tf.float32, [None, size, size, 3], name="images")
        labels = tf.placeholder(tf.int64, [None], name="labels")
        is_training = tf.placeholder(tf.bool, [], name="is_training")
        with tf.device(choose_device(s["device"])):
            logits, _ = nets.get_network_fn(s["model"], num_classes, is_training=is_training,
                                            weight_decay=s["weight_decay"])(images)
            tf.losses.sparse_softmax_cross_entropy(labels, logits)
            loss = tf.losses.get_total_loss()
            head_vars = [v for v in tf.trainable_variables() if in_scope(v.op.name, [info.head_scope])]
            head_op = train.make_optimizer(s["optimizer"], s["learning_rate"]).minimize(loss, var_list=head_vars)
            full_op = train.make_optimizer(s["optimizer"], s["full_learning_rate"]).minimize(loss)
            prediction = tf.argmax(logits, 1)
        base = [v for v in slim.get_model_variables() if not in_scope(v.op.name, [info.head_scope])]
        init_fn = restore.make_init_fn(ckpt, base)
        init_rest = tf.variables_initializer([v for v in tf.global_variables() if v not in set(base)])
        with tf.Session(config=session_config()) as sess:
            tic = time.perf_counter()
            sess.run(init_rest)
            init_fn(sess)
            out["setup_seconds"] = time.perf_counter() - tic
            rng = np.random.default_rng(s["seed"])
            B = s["batch_size"]
            epochs = []
            for epoch in range(s["epochs"]):
                order = rng.permutation(len(x_train))
                tic = time.perf_counter()
                for start in range(0, len(order) - B + 1, B):  # full batches, as tlslim's pipeline
                    idx = order[start:start + B]
                    sess.run(head_op, {images: x_train[idx], labels: y_train[idx], is_training: True})
                epochs.append(time.perf_counter() - tic)
                logging.info("baseline head epoch %d: %.2f s", epoch + 1, epochs[-1])
            tic = time.perf_counter()
            predicted = np.concatenate([sess.run(prediction, {images: x_test[i:i + 100], is_training: False})
                                        for i in range(0, len(x_test), 100)])
            out["eval_seconds"] = time.perf_counter() - tic
            out["head_top1"] = float(np.mean(predicted == y_test))
            out["head_epoch_seconds"] = epochs
            logging.info("baseline head: top-1 %.4f after %d epochs", out["head_top1"], len(epochs))

            # Full fine-tuning: warm-up steps, then the timed ones.
            feeds = [{images: x_full[i:i + B], labels: y_full[i:i + B], is_training: True}
                     for i in range(0, len(x_full), B)]
            for feed in feeds[:2]:
                sess.run(full_op, feed)
            seconds = _time(lambda: [sess.run(full_op, feed) for feed in feeds])
            out["full_images_per_second"] = len(x_full) / seconds
            logging.info("baseline full fine-tune: %.1f images/s", out["full_images_per_second"])
    return out


# ---------------------------------------------------------------- 2. tlslim head on cached features

def cached(s, ckpt, work_dir, steps_per_epoch):
    config = train.TrainConfig(
        model=s["model"], checkpoint_path=ckpt, exclude="auto", strategy="head", dataset=s["dataset"],
        dataset_dir=s["dataset_dir"], image_size=s["image_size"], train_subset=s["train_subset"],
        batch_size=s["batch_size"], max_steps=s["epochs"] * steps_per_epoch, optimizer=s["optimizer"],
        learning_rate=s["learning_rate"], weight_decay=s["weight_decay"], eval_every_steps=steps_per_epoch,
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
    config = train._checked(train.TrainConfig(
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
        for _ in range(2):
            sess.run(fetches)
        seconds = _time(lambda: sess.run(fetches), repeat=steps)
    return {"images_per_second": steps * s["batch_size"] / seconds}


# ---------------------------------------------------------------- Keras

def keras_model(s, num_classes):
    """keras.applications.VGG16's layers (same names) + slim's convolutional top, with slim's weight decay."""
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
    base_params = model.count_params()
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(size, size, 3))
    if base_params != reference.count_params():
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


def keras_fit(s, num_classes, x, y, jit_compile):
    import keras

    keras.utils.set_random_seed(s["seed"])
    model = keras_model(s, num_classes)
    if s["optimizer"] != "momentum":
        raise TlslimError("the Keras comparison uses SGD with momentum; run the bench with --optimizer momentum.")
    model.compile(optimizer=keras.optimizers.SGD(s["full_learning_rate"], momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit_compile)
    B = s["batch_size"]
    model.fit(x[:2 * B], y[:2 * B], batch_size=B, epochs=1, verbose=0, shuffle=False)  # compile / trace
    seconds = _time(lambda: model.fit(x, y, batch_size=B, epochs=1, verbose=0, shuffle=True))
    return {"images_per_second": len(x) / seconds, "jit_compile": model.jit_compile,
            "parameters": int(model.count_params())}


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
    unknown = parts - {"keras", "baseline", "cached", "full", "peak"}
    if unknown:
        raise TlslimError(f"--parts: unknown part(s) {', '.join(sorted(unknown))}; use keras,baseline,cached,full,peak.")
    info = nets.get_info(s["model"])
    style = info.preprocessing
    work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix="tlslim_bench_")
    os.makedirs(work_dir, exist_ok=True)
    report = {"settings": s, "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                                         "tensorflow": tf.__version__, "load_average_start": os.getloadavg()}}
    started = time.time()
    try:
        # Data and checkpoint.
        train_set = data.load(s["dataset"], s["dataset_dir"], split="train", train_subset=s["train_subset"],
                              seed=s["seed"])
        test_set = train._first(data.load(s["dataset"], s["dataset_dir"], split="test"), s["test_examples"])
        num_classes = train_set.num_classes
        B = s["batch_size"]
        steps_per_epoch = len(train_set) // B
        if steps_per_epoch < 1:
            raise TlslimError(f"{len(train_set)} training images is less than one batch of {B}; raise --train_subset.")
        report["data"] = {"dataset": s["dataset"], "synthetic": s["dataset"].startswith("synthetic"),
                          "train_images": len(train_set), "test_images": len(test_set), "num_classes": num_classes}
        if s["synthetic_checkpoint"]:
            logging.info("writing a SYNTHETIC %s checkpoint (release format, random values)", s["model"])
            ckpt = os.path.join(work_dir, "synthetic", info.checkpoint_file or f"{s['model']}.ckpt")
            from tlslim.testing import checkpoints
            checkpoints.write_net_checkpoint(s["model"], ckpt, seed=s["seed"])
        else:
            ckpt = restore.resolve_checkpoint(FLAGS.checkpoint_path)
        report["checkpoint"] = {"path": ckpt, "synthetic": s["synthetic_checkpoint"]}
        stats = train._style_stats(style, train_set)
        x_train = _preprocessed(train_set, s["image_size"], style, stats)
        x_test = _preprocessed(test_set, s["image_size"], style, stats)
        n_full = max(B, min(s["full_images"], len(x_train)) // B * B)
        reps = -(-n_full // len(x_train))
        x_full = np.concatenate([x_train] * reps)[:n_full]
        y_full = np.concatenate([train_set.labels] * reps)[:n_full]

        # Keras runs eagerly: before the process switches to graph mode.
        if "keras" in parts:
            runs = [keras_fit(s, num_classes, x_full, y_full, "auto")]
            if FLAGS.keras_no_jit:
                runs.append(keras_fit(s, num_classes, x_full, y_full, False))
            report["keras"] = {"runs": runs, "images_per_second": max(r["images_per_second"] for r in runs)}
            logging.info("keras fit: %s", ", ".join(f"{r['images_per_second']:.1f} images/s (jit_compile="
                                                    f"{r['jit_compile']})" for r in runs))
        graph_mode()

        peaks = []
        if "peak" in parts:
            peaks.append(matmul_peak(s["matmul_size"], choose_device(s["device"])))
        if "baseline" in parts:
            report["baseline"] = baseline(s, ckpt, num_classes, x_train, train_set.labels, x_test, test_set.labels,
                                          x_full, y_full)
        if "cached" in parts:
            report["cached"] = cached(s, ckpt, work_dir, steps_per_epoch)
        if "full" in parts:
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
    if base and cache:
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
    full = report.get("tlslim_full")
    if full:
        keras = report.get("keras")
        if keras:
            out["full_vs_keras"] = _ratio(full["images_per_second"], keras["images_per_second"])
            out["full_vs_keras_target_met"] = out["full_vs_keras"] >= 1.0
        if base:
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
    synthetic = []
    if report.get("data", {}).get("synthetic"):
        synthetic.append("SYNTHETIC data")
    if report.get("checkpoint", {}).get("synthetic"):
        synthetic.append("SYNTHETIC checkpoint (random weights)")
    lines = [f"{s['model']} at {s['image_size']}x{s['image_size']}, batch {s['batch_size']}, "
             f"{report['data']['train_images']} train / {report['data']['test_images']} test images"
             + (f" [{'; '.join(synthetic)}]" if synthetic else ""),
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
        lines.append(f"    top-1 after {s['epochs']} epochs: baseline {base['head_top1']:.4f}, cached {cold['top1']:.4f}")
        value = r["head_time_to_accuracy_speedup"]
        lines.append(row("time to the baseline's accuracy: baseline / cached", value, "info", None))
        warm = r["head_time_to_accuracy_speedup_warm_cache"]
        lines.append(row("  same, features already cached", warm, "info", None))
    if "full_vs_keras" in r:
        lines.append(row("full fine-tune images/s: tlslim / Keras fit", r["full_vs_keras"], ">= 1.0x",
                         r["full_vs_keras_target_met"]))
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
