"""Fine-tune a TF-Slim net on a dataset: the whole training recipe in one module.

    config = TrainConfig(model="vgg_16", checkpoint_path="vgg_16.ckpt", exclude="vgg_16/fc8",
                         dataset="cifar10", dataset_dir="/data/cifar10", image_size=32, max_steps=1000)
    result = train(config)   # {'step', 'loss', 'top1', 'top5', 'seconds', 'history', ...}
    evaluate("vgg_16", result["checkpoint"], "cifar10", dataset_dir="/data/cifar10", image_size=32)

`train` runs, in order: data -> plan (what to restore, what to train; the restore preflight
runs here, before anything expensive) -> graph (a training tower and an evaluation tower that
shares its variables) -> session (resume from --train_dir, else restore the checkpoint) ->
loop (log, summaries, checkpoints, periodic evaluation) -> final evaluation.

Strategies (which variables train; `trainable_scopes` overrides them all):
  head            the excluded scopes (the new head; the net's head scope if nothing is excluded)
  top             the last `unfreeze` blocks before the head (NetInfo.blocks), plus the head
  all             every variable of the net, one learning rate
  discriminative  every variable; the k-th block counting back from the head (head: k=0) learns
                  at learning_rate / lr_factor**k (one optimizer per block, one global step)
  scratch         no checkpoint: random initialization, every variable trains

Only the trainable scopes' batch norms run in training mode and update their moving statistics;
frozen ones use their restored statistics (tlslim.layers.batch_norm_train_only). The loss is the
softmax cross-entropy of the logits plus the weight-decay terms of the trainable variables.

Checkpoints (V2) go to `train_dir` every `save_every_steps` and at the end. Re-running the same
config resumes from the latest one (step, weights and optimizer state; the release checkpoint is
then not read again) and stops at `max_steps`. The training data are reshuffled on resume with
a seed derived from (seed, step), so a resumed run does not replay the batches it already saw.
Ctrl-C saves a checkpoint before stopping. A non-finite loss stops with a TlslimError and
nothing is saved, so the latest checkpoint stays the last good one.
"""
import dataclasses
import json
import os
import time
from typing import Optional

import numpy as np
from absl import logging

from tlslim import data, nets, restore
from tlslim.compat import graph_mode, slim, tf
from tlslim.device import check_mixed_precision, choose_device, describe, precision_scope, session_config
from tlslim.errors import TlslimError
from tlslim.layers import batch_norm_train_only
from tlslim.scopes import check_scopes_match, in_scope, parse_scopes

STRATEGIES = ("head", "top", "all", "discriminative", "scratch")
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
LR_DECAYS = ("fixed", "exponential", "cosine")
RUN_FILE = "tlslim_run.json"  # what a train_dir was made by, to refuse mixing runs

# Dynamic loss scaling for mixed precision: start high, halve on overflow, double after a
# run of finite steps (the schedule of Keras's LossScaleOptimizer).
LOSS_SCALE_START = 2.0 ** 15
LOSS_SCALE_GROWTH_STEPS = 1000


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; scripts/finetune.py maps its flags onto these fields."""
    model: str = "cifarnet"
    dataset: str = "synthetic"
    dataset_dir: Optional[str] = None
    checkpoint_path: Optional[str] = None   # release checkpoint (V1 file, V2 prefix or directory)
    exclude: Optional[str] = None           # scopes not restored (comma-separated); "auto": the mismatched ones
    scope_map: Optional[str] = None         # "ckpt_scope=graph_scope,..." (see tlslim.restore)
    strategy: Optional[str] = None          # default: head if exclude is given, else all (scratch w/o checkpoint)
    unfreeze: int = 1                       # top: blocks unfrozen below the head
    lr_factor: float = 3.0                  # discriminative: rate divisor per block
    trainable_scopes: Optional[str] = None  # overrides the strategy's choice
    train_dir: Optional[str] = None         # default: runs/<model>-<dataset>-<strategy>
    image_size: Optional[int] = None        # default: the net's default size
    preprocessing: Optional[str] = None     # default: the net's release style
    augment: Optional[bool] = None          # random crops and flips in training (default: on)
    train_subset: Optional[int] = None      # images per class of the training split
    batch_size: int = 32
    max_steps: int = 1000
    optimizer: str = "momentum"
    learning_rate: float = 0.01
    momentum: float = 0.9                   # momentum, and rmsprop's momentum
    lr_decay: str = "fixed"
    decay_steps: Optional[int] = None       # exponential: default max_steps // 4; cosine: default max_steps
    decay_rate: float = 0.5                 # exponential: lr * decay_rate ** floor(step / decay_steps)
    weight_decay: float = 0.00004
    eval_every_steps: int = 0               # 0: evaluate at the end only
    eval_batch_size: Optional[int] = None   # default: batch_size
    eval_examples: Optional[int] = None     # evaluate on the first N test images (default: all)
    log_every_steps: int = 50
    save_every_steps: int = 500
    keep_checkpoints: int = 3
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = False


# ---------------------------------------------------------------- configuration checks

def _positive(config, *names):
    for name in names:
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or value <= 0):
            raise TlslimError(f"--{name} must be positive, got {value}.")


def check_config(config):
    """Validate a TrainConfig (TlslimError naming the flag) and fill in the strategy."""
    config = dataclasses.replace(config)
    nets.get_info(config.model)  # unknown model -> the list of known ones
    for name, allowed in (("optimizer", OPTIMIZERS), ("lr_decay", LR_DECAYS)):
        if getattr(config, name) not in allowed:
            raise TlslimError(f"--{name} must be one of {', '.join(allowed)}, got '{getattr(config, name)}'.")
    _positive(config, "batch_size", "max_steps", "learning_rate", "lr_factor", "decay_steps", "decay_rate",
              "image_size", "eval_batch_size", "eval_examples", "log_every_steps", "save_every_steps",
              "keep_checkpoints")
    if config.unfreeze < 0:
        raise TlslimError(f"--unfreeze must be 0 or more, got {config.unfreeze}.")
    if config.checkpoint_path is not None and not str(config.checkpoint_path).strip():
        config.checkpoint_path = None
    if config.strategy is None:
        if config.checkpoint_path is None:
            config.strategy = "scratch"
        else:
            config.strategy = "head" if parse_scopes(config.exclude) else "all"
    if config.strategy not in STRATEGIES:
        raise TlslimError(f"--strategy must be one of {', '.join(STRATEGIES)}, got '{config.strategy}'.")
    if config.strategy != "scratch" and config.checkpoint_path is None:
        raise TlslimError(f"--strategy {config.strategy} fine-tunes a pretrained net and needs --checkpoint_path; "
                          f"pass one, or use --strategy scratch to train from random weights.")
    return config


def default_train_dir(config):
    return os.path.join("runs", f"{config.model}-{config.dataset}-{config.strategy}")


# ---------------------------------------------------------------- the plan: what to restore, what to train

@dataclasses.dataclass
class Plan:
    """What a run restores and trains, decided before the training graph is built.

    groups: [(scopes, lr_multiplier)], head first; a variable trains in the first group whose
    scopes hold it. trainable_scopes: every group's scopes (batch norm trains only there).
    """
    strategy: str
    checkpoint_path: Optional[str]
    exclude: list
    auto_excluded: list
    groups: list
    trainable_scopes: list
    report: Optional[object] = None


def _probe_variables(network_fn, image_size):
    """Build the net in a throwaway graph: its model variables decide the plan."""
    with tf.Graph().as_default():
        network_fn(tf.placeholder(tf.float32, [None, image_size, image_size, 3]))
        return {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}


def _strategy_groups(config, info, head_scopes):
    """[(scopes, lr_multiplier)] for the strategy, head first."""
    body = [b for b in info.blocks if b != info.head_scope]
    if config.strategy == "head":
        return [(head_scopes, 1.0)]
    if config.strategy == "top":
        if config.unfreeze > len(body):
            raise TlslimError(f"--unfreeze {config.unfreeze} is more than the {len(body)} blocks below the head of "
                              f"{info.name} ({', '.join(body)}); use at most {len(body)}, or --strategy all.")
        top = body[len(body) - config.unfreeze:]
        return [(head_scopes + [b for b in top if not in_scope(b, head_scopes)], 1.0)]
    if config.strategy == "discriminative":
        groups = [(head_scopes, 1.0)]
        for k, block in enumerate(reversed(body), start=1):
            groups.append(([block], config.lr_factor ** -k))
        # Anything outside the listed blocks (a net-level variable) learns at the lowest rate.
        groups.append(([info.scope], config.lr_factor ** -len(body)))
        return groups
    return [([info.scope], 1.0)]  # all, scratch


def make_plan(config, num_classes, image_size, resumed=None):
    """Decide what to restore and what to train (runs the restore preflight; TlslimError on problems).

    `resumed`: the run record of the train_dir being resumed; then the release checkpoint is not
    read at all (the train_dir's checkpoint holds everything) and `--exclude auto` means what it
    meant in that run.
    """
    info = nets.get_info(config.model)
    network_fn = nets.get_network_fn(config.model, num_classes, is_training=True)
    shapes = _probe_variables(network_fn, image_size)
    names = list(shapes)
    exclude, auto, report, path = [], [], None, None
    if config.strategy == "scratch":
        if config.checkpoint_path:
            logging.warning("--strategy scratch starts from random weights; --checkpoint_path %s is not used",
                            config.checkpoint_path)
    elif resumed is not None and "exclude" in resumed:
        exclude = parse_scopes(config.exclude)
        if restore.AUTO in exclude:
            exclude = list(resumed["exclude"])
        check_scopes_match(exclude, names, "--exclude")
    else:
        path = restore.resolve_checkpoint(config.checkpoint_path)
        exclude, auto = restore.expand_exclude(config.exclude, shapes, path, config.scope_map)
        report = restore.preflight(shapes, path, exclude=exclude, scope_map=config.scope_map)
        report.check()
    head_scopes = list(exclude) or [info.head_scope]
    if config.trainable_scopes:
        scopes = parse_scopes(config.trainable_scopes)
        check_scopes_match(scopes, names, "--trainable_scopes")
        untrained = [s for s in exclude if not in_scope(s, scopes)]
        if untrained:
            logging.warning("excluded scopes %s are not in --trainable_scopes: they keep their random initial "
                            "values", ", ".join(untrained))
        groups = [(scopes, 1.0)]
    else:
        groups = _strategy_groups(config, info, head_scopes)
    trainable = []
    for scopes, _ in groups:
        trainable += [s for s in scopes if s not in trainable]
    return Plan(config.strategy, path, exclude, auto, groups, trainable, report)


# ---------------------------------------------------------------- graph pieces

def learning_rate_schedule(config, global_step):
    """The learning-rate tensor: fixed, exponential (staircase) or cosine decay."""
    lr = config.learning_rate
    if config.lr_decay == "exponential":
        steps = config.decay_steps or max(1, config.max_steps // 4)
        return tf.train.exponential_decay(lr, global_step, steps, config.decay_rate, staircase=True,
                                          name="learning_rate")
    if config.lr_decay == "cosine":
        return tf.train.cosine_decay(lr, global_step, config.decay_steps or config.max_steps, name="learning_rate")
    return tf.constant(lr, tf.float32, name="learning_rate")


def make_optimizer(name, learning_rate, momentum=0.9):
    if name == "sgd":
        return tf.train.GradientDescentOptimizer(learning_rate)
    if name == "momentum":
        return tf.train.MomentumOptimizer(learning_rate, momentum)
    if name == "adam":
        return tf.train.AdamOptimizer(learning_rate)
    if name == "rmsprop":
        return tf.train.RMSPropOptimizer(learning_rate, momentum=momentum)
    raise TlslimError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got '{name}'.")


def group_variables(variables, groups):
    """Split `variables` into the plan's groups: [(variables, lr_multiplier)], empty groups dropped."""
    out = [([], mult) for _, mult in groups]
    for v in variables:
        for i, (scopes, _) in enumerate(groups):
            if in_scope(v.op.name, scopes):
                out[i][0].append(v)
                break
    return [(vs, mult) for vs, mult in out if vs]


def build_train_op(total_loss, var_groups, learning_rate, config, global_step, mixed_precision=False):
    """The op that takes one training step and increments `global_step` once.

    var_groups: [(variables, lr_multiplier)]. One group without mixed precision is exactly
    `optimizer.minimize(total_loss, var_list, global_step)`; otherwise each group gets its own
    optimizer at learning_rate * multiplier and the step increments after all have applied.
    With `mixed_precision`, gradients are taken of the loss times a dynamic loss scale, and a step
    whose gradients overflow is skipped (the scale halves; the step still counts).
    """
    var_list = [v for vs, _ in var_groups for v in vs]
    optimizers = [make_optimizer(config.optimizer, learning_rate * mult if mult != 1.0 else learning_rate,
                                 config.momentum) for _, mult in var_groups]
    if len(var_groups) == 1 and not mixed_precision:
        return optimizers[0].minimize(total_loss, var_list=var_list, global_step=global_step)

    if mixed_precision:
        loss_scale = tf.get_variable("loss_scale", initializer=LOSS_SCALE_START, trainable=False)
        finite_steps = tf.get_variable("loss_scale_finite_steps", initializer=0, trainable=False)
        grads = [None if g is None else g / loss_scale for g in tf.gradients(total_loss * loss_scale, var_list)]
    else:
        grads = tf.gradients(total_loss, var_list)

    def apply_all():
        applies, i = [], 0
        for opt, (vs, _) in zip(optimizers, var_groups):
            pairs = [(g, v) for g, v in zip(grads[i:i + len(vs)], vs) if g is not None]
            i += len(vs)
            if pairs:
                applies.append(opt.apply_gradients(pairs))
        return tf.group(*applies)

    if not mixed_precision:
        with tf.control_dependencies([apply_all()]):
            return tf.assign_add(global_step, 1).op

    finite = tf.reduce_all([tf.reduce_all(tf.is_finite(g)) for g in grads if g is not None])
    applied = tf.cond(finite, apply_all, tf.no_op)
    with tf.control_dependencies([applied]):
        count = tf.where(finite, finite_steps + 1, 0)
        grow = count >= LOSS_SCALE_GROWTH_STEPS
        new_scale = tf.where(finite, tf.where(grow, loss_scale * 2.0, loss_scale), tf.maximum(loss_scale / 2.0, 1.0))
        scale_update = tf.group(tf.assign(loss_scale, new_scale), tf.assign(finite_steps, tf.where(grow, 0, count)))
    with tf.control_dependencies([scale_update]):
        return tf.assign_add(global_step, 1).op


def _logits(network_fn, images, mixed_precision):
    """float32 logits of the net on `images` (computed in float16 under mixed precision)."""
    if mixed_precision:
        images = tf.cast(images, tf.float16)
    with precision_scope(mixed_precision):
        logits, _ = network_fn(images)
    return tf.cast(logits, tf.float32)


@dataclasses.dataclass
class TrainGraph:
    """The tensors and ops of a training graph (see build_train_graph)."""
    graph: object
    global_step: object
    train_op: object
    step_after: object           # the global step after train_op (fetch it with train_op)
    loss: object                 # total loss of the step (cross-entropy + weight decay of trainable vars)
    accuracy: object             # top-1 accuracy of the training batch
    learning_rate: object
    var_list: list               # what the optimizer updates
    var_groups: list             # [(variables, lr_multiplier)]
    update_ops: list             # batch-norm moving-average updates run with each step
    restore_vars: list           # model variables restored from the release checkpoint
    eval_init: object            # (re)starts a pass over the evaluation split
    eval_logits: object
    eval_labels: object
    weights_finite: object
    saver: object
    init_op: object


def build_train_graph(config, plan, train_set, test_set, start_step=0):
    """Build the training graph in a new tf.Graph (nothing runs). `config` must be checked."""
    info = nets.get_info(config.model)
    image_size = config.image_size or info.default_image_size
    style = config.preprocessing or info.preprocessing
    num_classes = train_set.num_classes
    device = choose_device(config.device)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(config.seed)
        global_step = tf.train.get_or_create_global_step()

        with tf.device("/device:CPU:0"), tf.name_scope("data"):
            stats = style_stats(style, train_set)
            # Reseeded from the step on resume, so a resumed run sees a fresh order.
            train_data = data.input_pipeline(train_set, config.batch_size, image_size, style, is_training=True,
                                             seed=data_seed(config.seed, start_step), augment=config.augment,
                                             stats=stats)
            images, labels = tf.data.make_one_shot_iterator(train_data).get_next()
            eval_data = data.input_pipeline(test_set, config.eval_batch_size or config.batch_size, image_size,
                                            style, is_training=False, stats=stats)
            eval_iterator = tf.data.make_initializable_iterator(eval_data)
            eval_images, eval_labels = eval_iterator.get_next()

        with tf.device(device):
            train_fn = nets.get_network_fn(config.model, num_classes, is_training=True,
                                           weight_decay=config.weight_decay)
            with batch_norm_train_only(plan.trainable_scopes):
                logits = _logits(train_fn, images, config.mixed_precision)
            update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
            model_vars = slim.get_model_variables()
            var_list = [v for v in tf.trainable_variables() if in_scope(v.op.name, plan.trainable_scopes)]
            var_groups = group_variables(var_list, plan.groups)

            with tf.name_scope("loss"):
                cross_entropy = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
                # Weight decay of the trainable variables only: a frozen layer's term is a constant.
                trained = {v.op.name for v in var_list}
                decay = [tf.cast(r, tf.float32) for r in tf.losses.get_regularization_losses()
                         if regularized_variable(r) in trained]  # float16 under mixed precision
                total_loss = tf.add_n([cross_entropy] + decay, name="total_loss") if decay else cross_entropy
                accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))
            with tf.control_dependencies(update_ops):
                total_loss = tf.identity(total_loss, name="total_loss_after_updates")

            learning_rate = learning_rate_schedule(config, global_step)
            train_op = build_train_op(total_loss, var_groups, learning_rate, config, global_step,
                                      config.mixed_precision)
            with tf.control_dependencies([train_op]):
                step_after = global_step.read_value()

            # The evaluation tower: same variables, inference mode (dropout off, moving statistics).
            eval_fn = nets.get_network_fn(config.model, num_classes, is_training=False)
            with tf.variable_scope(tf.get_variable_scope(), reuse=True), tf.name_scope("eval"):
                eval_logits = _logits(eval_fn, eval_images, config.mixed_precision)

        # Everything a checkpoint would hold (weights, statistics, optimizer state) must be finite.
        weights_finite = tf.reduce_all([tf.reduce_all(tf.is_finite(v)) for v in tf.global_variables()
                                        if v.dtype.base_dtype.is_floating])
        restore_vars = (restore.variables_to_restore(exclude=plan.exclude, variables=model_vars)
                        if plan.checkpoint_path else [])
        saver = tf.train.Saver(max_to_keep=config.keep_checkpoints, name="train_saver")
        init_op = tf.global_variables_initializer()
    return TrainGraph(graph, global_step, train_op, step_after, total_loss, accuracy, learning_rate, var_list,
                      var_groups, update_ops, restore_vars, eval_iterator.initializer, eval_logits, eval_labels,
                      weights_finite, saver, init_op)


def regularized_variable(loss):
    """The name of the variable a regularization-loss tensor reads (its op names do not always say:
    slim's fully_connected names the term '.../kernel/Regularizer' for the variable '.../weights')."""
    pending, seen = [loss.op], set()
    while pending:
        op = pending.pop()
        if op.type in ("VarHandleOp", "VariableV2"):
            return op.name
        seen.add(op.name)
        pending += [t.op for t in op.inputs if t.op.name not in seen]
    return None


def style_stats(style, train_set):
    """The training split's statistics for the per-dataset preprocessing styles, else None."""
    return data.compute_stats(train_set) if style in data.preprocessing.STATS_STYLES else None


def data_seed(seed, step):
    return (int(seed) * 1_000_003 + int(step)) % (2 ** 31 - 1)


# ---------------------------------------------------------------- checkpoints of the run

def _checkpoint_step(path):
    reader = tf.train.load_checkpoint(path)
    return int(reader.get_tensor("global_step")) if reader.has_tensor("global_step") else 0


def latest_checkpoint(train_dir):
    return tf.train.latest_checkpoint(train_dir) if os.path.isdir(train_dir) else None


def run_record(config, num_classes, image_size, plan):
    dataset_dir = os.path.abspath(config.dataset_dir) if config.dataset_dir else None
    return {"model": config.model, "dataset": config.dataset, "dataset_dir": dataset_dir,
            "num_classes": num_classes, "image_size": image_size, "preprocessing": config.preprocessing,
            "strategy": plan.strategy, "exclude": plan.exclude, "trainable_scopes": plan.trainable_scopes,
            "optimizer": config.optimizer}


def read_run_record(path):
    """What the training directory `path` was made by ({'model', 'dataset', ...}), or None."""
    path = os.path.expanduser(str(path))
    record = os.path.join(path if os.path.isdir(path) else os.path.dirname(path), RUN_FILE)
    if not os.path.isfile(record):
        return None
    with open(record, encoding="utf-8") as f:
        return json.load(f)


def compare_records(train_dir, old, record, keys=("model", "num_classes", "strategy", "trainable_scopes",
                                                    "optimizer")):
    for key in keys:
        if old and key in old and key in record and old[key] != record[key]:
            raise TlslimError(f"--train_dir {train_dir} holds a run with {key} {old[key]} but this run has "
                              f"{key} {record[key]}; use a new --train_dir, or the flags of the run that wrote it.")


def check_resumable(train_dir, latest, record, graph):
    """TlslimError unless the checkpoint in `train_dir` was written by the same kind of run."""
    fix = f"use a new --train_dir, or the flags of the run that wrote {train_dir}"
    compare_records(train_dir, read_run_record(train_dir), record)
    saved = tf.train.load_checkpoint(latest).get_variable_to_shape_map()
    for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES):
        name = v.op.name
        if name not in saved:
            raise TlslimError(f"--train_dir {train_dir} holds a checkpoint of another model or setup "
                              f"({name} is not in {os.path.basename(latest)}); {fix}.")
        if list(saved[name]) != v.shape.as_list():
            raise TlslimError(f"--train_dir {train_dir} holds a checkpoint of another model or setup ({name} is "
                              f"{list(saved[name])} there, {v.shape.as_list()} here); {fix}.")


def _check_train_dir(train_dir):
    """TlslimError unless `train_dir` is, or can be made as, a writable directory."""
    path = os.path.abspath(train_dir)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise TlslimError(f"--train_dir {train_dir} cannot be a directory: {path} is a file; pass a directory "
                          f"path for checkpoints.")
    if not os.access(path, os.W_OK | os.X_OK):
        raise TlslimError(f"--train_dir {train_dir} is not writable ({path}); pass a directory you can write to.")


def save_checkpoint(sess, tg, train_dir):
    if not sess.run(tg.weights_finite):
        raise TlslimError(f"the weights became NaN or infinite at step {sess.run(tg.global_step)}; nothing was "
                          f"saved (the latest checkpoint is the last good one); lower --learning_rate.")
    try:
        path = tg.saver.save(sess, os.path.join(train_dir, "model.ckpt"), global_step=tg.global_step,
                             write_meta_graph=False)
    except (OSError, tf.errors.OpError) as err:
        # The state file is only updated after a complete write, so the previous checkpoint stays the latest.
        why = (err.message if isinstance(err, tf.errors.OpError) else str(err)).strip().splitlines()
        raise TlslimError(f"could not save a checkpoint in {train_dir} at step {sess.run(tg.global_step)} "
                          f"({why[0] if why else type(err).__name__}); the latest checkpoint is still "
                          f"{latest_checkpoint(train_dir)}; free disk space or fix --train_dir, then run the same "
                          f"command again to resume.") from None
    logging.info("saved %s", path)
    return path


# ---------------------------------------------------------------- evaluation

def _accuracy(logits, labels):
    """(top1, top5 or None) of numpy logits [N, C] against labels [N]."""
    top1 = float(np.mean(np.argmax(logits, 1) == labels)) if len(labels) else float("nan")
    top5 = None
    if logits.shape[1] > 5:
        best5 = np.argsort(-logits, axis=1)[:, :5]
        top5 = float(np.mean(np.any(best5 == labels[:, None], axis=1))) if len(labels) else float("nan")
    return top1, top5


def _cross_entropy(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probs[np.arange(len(labels)), labels])) if len(labels) else float("nan")


def run_to_end(sess, fetches, on_batch=None):
    """sess.run(fetches) until the input iterator is exhausted -> each fetch's results concatenated
    over the batches (numpy arrays; None for all if there was no batch). on_batch(results) is
    called after each batch (progress)."""
    batches = []
    while True:
        try:
            batches.append(sess.run(fetches))
        except tf.errors.OutOfRangeError:
            break
        if on_batch:
            on_batch(batches[-1])
    return [np.concatenate(parts) for parts in zip(*batches)] if batches else [None] * len(fetches)


def _run_eval(sess, init, logits_t, labels_t):
    """One pass over an evaluation iterator -> (logits [N, C], labels [N]) as numpy arrays."""
    sess.run(init)
    logits, labels = run_to_end(sess, [logits_t, labels_t])
    if logits is None:
        raise TlslimError("the evaluation split is empty; check --dataset_dir.")
    return logits.astype(np.float64), labels


def eval_metrics(logits, labels):
    top1, top5 = _accuracy(logits, labels)
    return {"top1": top1, "top5": top5, "loss": _cross_entropy(logits, labels), "count": int(len(labels))}


def format_metrics(m):
    top5 = f", top-5 {m['top5']:.4f}" if m["top5"] is not None else ""
    return f"top-1 {m['top1']:.4f}{top5}, loss {m['loss']:.4f} on {m['count']} test images"


def first_examples(dataset, n):
    return dataset if n is None or n >= len(dataset) else dataset.subset(np.arange(n))


def evaluate(model, checkpoint_path, dataset, dataset_dir=None, split="test", image_size=None, batch_size=32,
             num_examples=None, preprocessing=None, device="auto", return_logits=False):
    """Top-1/top-5 accuracy of a checkpoint (a file, V2 prefix, or train_dir) on a dataset split.

    Builds the net in inference mode (dropout off, batch norm on its moving statistics) with the
    dataset's number of classes and restores every model variable. Returns {'top1', 'top5'
    (None for 5 classes or fewer), 'loss', 'count'} (+ 'logits', 'labels' if return_logits).
    """
    graph_mode()
    info = nets.get_info(model)
    image_size = image_size or info.default_image_size
    style = preprocessing or info.preprocessing
    test_set = first_examples(data.load(dataset, dataset_dir, split=split), num_examples)
    # Per-dataset styles normalize with the training split's statistics, as in training.
    stats = style_stats(style, data.load(dataset, dataset_dir, split="train")) \
        if style in data.preprocessing.STATS_STYLES else None
    device = choose_device(device)
    with tf.Graph().as_default():
        with tf.device("/device:CPU:0"):
            pipeline = data.input_pipeline(test_set, batch_size, image_size, style, is_training=False, stats=stats)
            iterator = tf.data.make_initializable_iterator(pipeline)
            images, labels = iterator.get_next()
        with tf.device(device):
            logits, _ = nets.get_network_fn(model, test_set.num_classes, is_training=False)(images)
        variables = slim.get_model_variables()
        report = restore.preflight(variables, checkpoint_path)
        if report.mismatched:
            name, graph_shape, ckpt_shape = report.mismatched[0]
            raise TlslimError(f"checkpoint {report.checkpoint_path} does not fit {model} for {dataset} "
                              f"({test_set.num_classes} classes): {name} is {ckpt_shape} there, {graph_shape} here; "
                              f"evaluate it on the dataset it was trained for.")
        init_fn = restore.make_init_fn(checkpoint_path, variables)
        with tf.Session(config=session_config()) as sess:
            sess.run(tf.global_variables_initializer())
            init_fn(sess)
            all_logits, all_labels = _run_eval(sess, iterator.initializer, logits, labels)
    result = eval_metrics(all_logits, all_labels)
    logging.info("%s on %s/%s from %s: %s", model, dataset, split, init_fn.checkpoint_path, format_metrics(result))
    if return_logits:
        result.update(logits=all_logits, labels=all_labels)
    return result


# ---------------------------------------------------------------- logging helpers

def _write_scalars(writer, step, values):
    """TensorBoard scalars {tag: number} at `step`."""
    summary = tf.Summary(value=[tf.Summary.Value(tag=k, simple_value=float(v)) for k, v in values.items()])
    writer.add_summary(summary, step)
    writer.flush()


def _scope_summary(names, depth=2):
    """'vgg_16/conv1/conv1_1/weights', ... -> 'vgg_16/conv1, vgg_16/fc8' (distinct scopes, in order)."""
    out = []
    for n in names:
        scope = "/".join(n.split("/")[:depth])
        if scope not in out:
            out.append(scope)
    return ", ".join(out) if out else "none"


def format_duration(seconds):
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _log_plan(plan, tg, resume_from):
    restored = [v.op.name for v in tg.restore_vars]
    model_names = [v.op.name for v in tg.graph.get_collection(tf.GraphKeys.MODEL_VARIABLES)]
    new = [n for n in model_names if n not in set(restored)]
    if resume_from:
        logging.info("resuming: all %d variables (weights, optimizer state, step) come from %s",
                     len(tg.graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)), resume_from)
    else:
        if plan.checkpoint_path:
            logging.info("restoring %d variables from %s: %s", len(restored), plan.checkpoint_path,
                         _scope_summary(restored))
            if plan.auto_excluded:
                logging.info("--exclude auto excluded %s (shapes differ from the checkpoint)",
                             ", ".join(plan.auto_excluded))
        logging.info("new (random initial values): %d variables: %s", len(new), _scope_summary(new))
    if len(tg.var_groups) > 1:
        for vs, mult in tg.var_groups:
            logging.info("training %d variables at %.4g x learning rate: %s", len(vs), mult,
                         _scope_summary([v.op.name for v in vs]))
    logging.info("training (strategy %s): %d variables in %s; %d batch-norm update ops", plan.strategy,
                 len(tg.var_list), ", ".join(plan.trainable_scopes), len(tg.update_ops))


# ---------------------------------------------------------------- the loop

def run_loop(sess, graph, config, train_dir, run_step, evaluation, latest=None, writer=None):
    """Train on an initialized session to `config.max_steps`: the loop of `train` and of
    `tlslim.features.train_cached`.

    graph: a TrainGraph or features.HeadGraph (global_step, saver, weights_finite). run_step()
    takes one step -> (loss, accuracy, learning_rate, global step after it); evaluation(step) ->
    metrics. Logs (and, with `writer`, TensorBoard scalars) every log_every_steps, saves every
    save_every_steps and at the end, evaluates at step 0 (with eval_every_steps), every
    eval_every_steps and at the end. A non-finite loss raises TlslimError with nothing saved;
    Ctrl-C saves, then re-raises. Returns {'step', 'loss' (None if no step ran), 'losses'
    ([(step, loss)]), 'checkpoint', 'final' (the last metrics), 'loop_seconds' (in run_step)}.
    """
    step = start_step = int(sess.run(graph.global_step))
    checkpoint = latest
    if step >= config.max_steps:
        logging.info("%s is already at step %d (max_steps %d): evaluating only", train_dir, step, config.max_steps)
    elif config.eval_every_steps and step == 0:
        evaluation(step)
    loss, losses, loop_seconds = None, [], 0.0
    window, window_seconds = [], 0.0  # (loss, accuracy) of the steps since the last log line
    try:
        while step < config.max_steps:
            tic = time.time()
            loss, acc, lr, step = run_step()
            window_seconds += time.time() - tic
            loss, step = float(loss), int(step)
            if not np.isfinite(loss):
                raise TlslimError(f"the loss is {loss} at step {step}; stopped without saving (the latest "
                                  f"checkpoint is the last good one); lower --learning_rate "
                                  f"(now {config.learning_rate:g}).")
            losses.append((step, loss))
            window.append((loss, acc))
            if step % config.log_every_steps == 0 or step == config.max_steps:
                mean_loss, mean_acc = np.mean(window, axis=0)
                if writer is not None:
                    _write_scalars(writer, step, {"loss": mean_loss, "accuracy": mean_acc, "learning_rate": lr})
                rate = len(window) * config.batch_size / max(window_seconds, 1e-9)
                eta = (config.max_steps - step) * window_seconds / len(window)
                logging.info("step %d/%d  loss %.4f  accuracy %.3f  %.1f images/s  ETA %s  lr %.4g", step,
                             config.max_steps, mean_loss, mean_acc, rate, format_duration(eta), lr)
                loop_seconds += window_seconds
                window, window_seconds = [], 0.0
            if step % config.save_every_steps == 0 and step < config.max_steps:
                checkpoint = save_checkpoint(sess, graph, train_dir)
            if config.eval_every_steps and step % config.eval_every_steps == 0 and step < config.max_steps:
                evaluation(step)
    except KeyboardInterrupt:
        step = int(sess.run(graph.global_step))
        save_checkpoint(sess, graph, train_dir)
        logging.warning("interrupted at step %d; checkpoint saved in %s; run the same command again to resume",
                        step, train_dir)
        raise
    loop_seconds += window_seconds
    if not latest or step != start_step:
        checkpoint = save_checkpoint(sess, graph, train_dir)
    return {"step": step, "loss": loss, "losses": losses, "checkpoint": checkpoint, "final": evaluation(step),
            "loop_seconds": loop_seconds}


# ---------------------------------------------------------------- the run

def train(config):
    """Run `config` (a TrainConfig) to `max_steps`, resuming from its train_dir if possible.

    Returns {'step', 'loss' (last training loss; None if no step ran), 'top1', 'top5', 'eval_loss', 'seconds',
    'history' (evaluation points: step, top1, top5, loss), 'losses' ([(step, training loss)] of
    the steps this call ran), 'train_dir', 'checkpoint'}. Raises TlslimError for anything the user
    can fix; KeyboardInterrupt after saving a checkpoint.
    """
    started = time.time()
    graph_mode()
    config = check_config(config)
    info = nets.get_info(config.model)
    image_size = config.image_size or info.default_image_size
    train_dir = config.train_dir or default_train_dir(config)
    _check_train_dir(train_dir)
    device = choose_device(config.device)
    logging.info("model %s on %s", config.model, describe(device))
    if config.mixed_precision:
        check_mixed_precision(device)

    # Data.
    train_set = data.load(config.dataset, config.dataset_dir, split="train", train_subset=config.train_subset,
                          seed=config.seed)
    test_set = first_examples(data.load(config.dataset, config.dataset_dir, split="test", seed=config.seed),
                      config.eval_examples)
    logging.info("dataset %s: %d training and %d test images, %d classes, at %dx%d", config.dataset,
                 len(train_set), len(test_set), train_set.num_classes, image_size, image_size)

    # Plan: what to restore and what to train (stops here on a bad checkpoint or scope).
    latest = latest_checkpoint(train_dir)
    resumed = read_run_record(train_dir) if latest else None
    compare_records(train_dir, resumed, {"model": config.model, "num_classes": train_set.num_classes})
    plan = make_plan(config, train_set.num_classes, image_size, resumed)
    if plan.report is not None:
        logging.info("%s", plan.report.text())

    # Graph.
    start_step = _checkpoint_step(latest) if latest else 0
    tg = build_train_graph(config, plan, train_set, test_set, start_step)
    record = run_record(config, train_set.num_classes, image_size, plan)
    if latest:
        check_resumable(train_dir, latest, record, tg.graph)
    init_fn = None  # resuming restores everything from train_dir; a fresh run restores the release weights
    if plan.checkpoint_path and not latest:
        init_fn = restore.make_init_fn(plan.checkpoint_path, tg.restore_vars, config.scope_map)
    _log_plan(plan, tg, latest)
    tg.graph.finalize()

    os.makedirs(train_dir, exist_ok=True)
    with open(os.path.join(train_dir, RUN_FILE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    history = []
    with tf.summary.FileWriter(train_dir) as writer, tf.Session(graph=tg.graph, config=session_config()) as sess:
        if latest:
            tg.saver.restore(sess, latest)
            logging.info("resuming from %s at step %d", latest, start_step)
        else:
            sess.run(tg.init_op)
            if init_fn:
                init_fn(sess)

        def evaluation(step):
            m = eval_metrics(*_run_eval(sess, tg.eval_init, tg.eval_logits, tg.eval_labels))
            m["step"] = step
            history.append(m)
            _write_scalars(writer, step, {f"eval/{k}": m[k] for k in ("top1", "top5", "loss") if m[k] is not None})
            logging.info("eval at step %d: %s", step, format_metrics(m))
            return m

        fetches = [tg.train_op, tg.loss, tg.accuracy, tg.learning_rate, tg.step_after]
        loop = run_loop(sess, tg, config, train_dir, lambda: sess.run(fetches)[1:], evaluation, latest, writer)
    step, loss, losses, checkpoint, final = (loop[k] for k in ("step", "loss", "losses", "checkpoint", "final"))
    seconds = time.time() - started
    logging.info("done: step %d in %s; %s", step, format_duration(seconds), format_metrics(final))
    return {"step": step, "loss": loss, "top1": final["top1"], "top5": final["top5"], "eval_loss": final["loss"],
            "seconds": seconds, "history": history, "losses": losses, "train_dir": train_dir,
            "checkpoint": checkpoint}
