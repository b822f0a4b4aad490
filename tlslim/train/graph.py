"""The training graph's shared pieces: the net's two towers, the loss, the optimizer and the train op.

Every graph builder (tlslim.train.builders) feeds its inputs into `build_towers`, so every mode
of training has the same loss (softmax cross-entropy plus the weight-decay terms of the trained
variables), the same optimizer and learning-rate schedule, the same batch-norm freezing, the
same finiteness check and the same saver.
"""
import dataclasses
from typing import List

from tlslim import nets
from tlslim.compat import slim, tf
from tlslim.device import compute_dtype, precision_scope
from tlslim.errors import TlslimError
from tlslim.layers import batch_norm_train_only
from tlslim.scopes import in_scope
from tlslim.train.config import OPTIMIZERS

# Dynamic loss scaling for mixed precision: start high, halve on overflow, double after a
# run of finite steps (the schedule of Keras's LossScaleOptimizer).
LOSS_SCALE_START = 2.0 ** 15
LOSS_SCALE_GROWTH_STEPS = 1000


def learning_rate_schedule(config, global_step):
    """The learning-rate tensor: fixed, exponential (staircase), cosine decay, or the range test's
    exponential sweep from learning_rate to end_learning_rate over max_steps."""
    lr = config.learning_rate
    if config.lr_decay == "exponential":
        steps = config.decay_steps or max(1, config.max_steps // 4)
        return tf.train.exponential_decay(lr, global_step, steps, config.decay_rate, staircase=True,
                                          name="learning_rate")
    if config.lr_decay == "range":
        fraction = tf.cast(global_step, tf.float32) / float(config.max_steps)
        return tf.multiply(lr, tf.pow(config.end_learning_rate / lr, fraction), name="learning_rate")
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


def build_train_op(total_loss, var_groups, learning_rate, config, global_step, mixed_precision=False, replicas=1):
    """The op that takes one training step and increments `global_step` once.

    var_groups: [(variables, lr_multiplier)]. One group without mixed precision is exactly
    `optimizer.minimize(total_loss, var_list, global_step)`; otherwise each group gets its own
    optimizer at learning_rate * multiplier and the step increments after all have applied.
    With `mixed_precision`, gradients are taken of the loss times a dynamic loss scale, and a step
    whose gradients overflow is skipped (the scale halves; the step still counts). With `replicas`
    > 1 (in a replica's context) each replica's gradients are of its loss / replicas: the
    optimizers sum them over the replicas, which makes the mean.
    """
    var_list = [v for vs, _ in var_groups for v in vs]
    optimizers = [make_optimizer(config.optimizer, learning_rate * mult if mult != 1.0 else learning_rate,
                                 config.momentum) for _, mult in var_groups]
    if len(var_groups) == 1 and not mixed_precision and replicas == 1:
        return optimizers[0].minimize(total_loss, var_list=var_list, global_step=global_step)

    if replicas > 1:
        if mixed_precision:
            raise TlslimError("--num_clones with --precision mixed_float16 is not supported; use float32 or "
                              "mixed_bfloat16, or one replica.")
        grads = tf.gradients(total_loss / float(replicas), var_list)
    elif mixed_precision:
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


def _run_net(network_fn, images, dtype):
    """(float32 logits, end_points) of the net on `images`, computed in `dtype` (float16 or
    bfloat16 with float32 variables; None: float32)."""
    if dtype is not None:
        images = tf.cast(images, dtype)
    with precision_scope(dtype):
        logits, end_points = network_fn(images)
    return tf.cast(logits, tf.float32), end_points


@dataclasses.dataclass
class TrainGraph:
    """The tensors and ops of a training graph (see build_towers); a builder adds its inputs."""
    graph: object
    global_step: object
    train_op: object
    step_after: object           # the global step after train_op (fetch it with train_op)
    loss: object                 # total loss of the step (cross-entropy + weight decay of trainable vars)
    accuracy: object             # top-1 accuracy of the training batch
    learning_rate: object
    var_list: List               # what the optimizer updates
    var_groups: List             # [(variables, lr_multiplier)]
    update_ops: List             # batch-norm moving-average updates run with each step
    model_variables: List        # the net's variables (what a release checkpoint restores into)
    end_points: dict             # the training tower's
    eval_logits: object
    eval_end_points: dict        # the evaluation tower's (inference mode)
    weights_finite: object       # every float variable (what a checkpoint holds) is finite
    saver: object
    inputs: dict = dataclasses.field(default_factory=dict)  # the builder's own tensors and ops

    @property
    def fetches(self):
        """What one training step runs (the train op first: its result is dropped)."""
        return [self.train_op, self.loss, self.accuracy, self.learning_rate, self.step_after]


def _train_tower(config, plan, num_classes, images, labels, dtype, aux_loss, global_step, learning_rate,
                 replicas=1, class_weights=None):
    """One training tower on `images`/`labels`: the net, its loss and the step that trains it (in a
    replica's context when `replicas` > 1). Returns a dict of what TrainGraph records."""
    train_fn = nets.get_network_fn(config.model, num_classes, is_training=True, weight_decay=config.weight_decay)
    updates_before = len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
    with batch_norm_train_only(plan.trainable_scopes):
        logits, end_points = _run_net(train_fn, images, dtype)
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)[updates_before:]  # this tower's
    var_list = [v for v in tf.trainable_variables() if in_scope(v.op.name, plan.trainable_scopes)]
    var_groups = group_variables(var_list, plan.groups)

    with tf.name_scope("loss"):
        # Each image's loss times its class's weight (1 without class weights), averaged over the batch.
        weights = 1.0 if class_weights is None else tf.gather(
            tf.constant(class_weights, tf.float32, name="class_weights"), labels)
        cross_entropy = tf.reduce_mean(
            weights * tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        aux_logits = end_points.get("AuxLogits")
        if aux_loss and aux_logits is not None and config.aux_loss_weight:
            aux_entropy = tf.reduce_mean(weights * tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=labels, logits=tf.cast(aux_logits, tf.float32)), name="aux_cross_entropy")
            cross_entropy += config.aux_loss_weight * aux_entropy
        # Weight decay of the trainable variables only: a frozen layer's term is a constant.
        trained = {v.op.name for v in var_list}
        decay = [tf.cast(r, tf.float32) for r in tf.losses.get_regularization_losses()
                 if regularized_variable(r) in trained]  # low precision under mixed precision
        if decay and replicas > 1:
            # The terms were made with the variables, in the first replica, and read its copies:
            # only its gradient of them is non-zero. Counted there `replicas` times, the replicas'
            # mean gradient has the whole decay once (and the mean loss reports it once).
            first = tf.equal(tf.distribute.get_replica_context().replica_id_in_sync_group, 0)
            decay = [d * tf.cast(first, tf.float32) * float(replicas) for d in decay]
        total_loss = tf.add_n([cross_entropy] + decay, name="total_loss") if decay else cross_entropy
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))
    with tf.control_dependencies(update_ops):
        total_loss = tf.identity(total_loss, name="total_loss_after_updates")
    if learning_rate is None:
        learning_rate = learning_rate_schedule(config, global_step)
    # Loss scaling for float16 only: bfloat16 has float32's exponent range.
    train_op = build_train_op(total_loss, var_groups, learning_rate, config, global_step, dtype == tf.float16,
                              replicas=replicas)
    return dict(train_op=train_op, loss=total_loss, accuracy=accuracy, var_list=var_list, var_groups=var_groups,
                update_ops=update_ops, end_points=end_points, learning_rate=learning_rate)


def build_towers(config, plan, num_classes, images, labels, eval_images, device, aux_loss=True, replicated=None,
                 class_weights=None):
    """Build, in the default graph (global step created), the training tower on `images`/`labels`
    with its loss and train op, and the evaluation tower on `eval_images` sharing its variables.
    With `aux_loss` the loss also has an auxiliary head's cross-entropy (AuxLogits) times
    config.aux_loss_weight, as slim's train_image_classifier had it. `class_weights` ([num_classes]):
    each image's loss is weighted by its class's.

    `replicated`: (strategy, iterator) to build the training tower once per replica of a
    tf.distribute strategy (in its scope) on the iterator's per-replica batches, `images` and
    `labels` unused: the loss and accuracy are the replicas' means, the gradients are averaged,
    and the global step advances once per step. The evaluation tower runs on `device`.

    `config` must be checked and `plan` made for it. The caller sets the graph seed and creates
    its inputs first: random ops draw their seeds from their place in the graph.
    """
    global_step = tf.train.get_or_create_global_step()
    dtype = compute_dtype(config.precision, device)
    if replicated is None:
        with tf.device(device):
            tower = _train_tower(config, plan, num_classes, images, labels, dtype, aux_loss, global_step, None,
                                 class_weights=class_weights)
        train_op, total_loss, accuracy = tower["train_op"], tower["loss"], tower["accuracy"]
    else:
        strategy, iterator = replicated
        learning_rate = learning_rate_schedule(config, global_step)
        towers = []

        def replica_step(inputs):
            towers.append(_train_tower(config, plan, num_classes, inputs[0], inputs[1], dtype, aux_loss, global_step,
                                       learning_rate, replicas=strategy.num_replicas_in_sync,
                                       class_weights=class_weights))
            with tf.control_dependencies([towers[-1]["train_op"]]):
                return tf.identity(towers[-1]["loss"]), tf.identity(towers[-1]["accuracy"])

        losses, accuracies = strategy.experimental_run(replica_step, iterator)
        tower = dict(towers[0], update_ops=[op for t in towers for op in t["update_ops"]])
        train_op = tf.group(*strategy.experimental_local_results(losses),
                            *strategy.experimental_local_results(accuracies))
        total_loss = strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)
        accuracy = strategy.reduce(tf.distribute.ReduceOp.MEAN, accuracies, axis=None)
    model_variables = slim.get_model_variables()
    with tf.control_dependencies([train_op]):
        step_after = global_step.read_value()

    with tf.device(device):
        # The evaluation tower: same variables, inference mode (dropout off, moving statistics).
        eval_fn = nets.get_network_fn(config.model, num_classes, is_training=False)
        with tf.variable_scope(tf.get_variable_scope(), reuse=True), tf.name_scope("eval"):
            eval_logits, eval_end_points = _run_net(eval_fn, eval_images, dtype)

    # Everything a checkpoint would hold (weights, statistics, optimizer state) must be finite.
    weights_finite = tf.reduce_all([tf.reduce_all(tf.is_finite(v)) for v in tf.global_variables()
                                    if v.dtype.base_dtype.is_floating])
    # Relative paths in the state file: a moved or copied train_dir still finds its checkpoints.
    saver = tf.train.Saver(max_to_keep=config.keep_checkpoints, name="train_saver", save_relative_paths=True)
    return TrainGraph(tf.get_default_graph(), global_step, train_op, step_after, total_loss, accuracy,
                      tower["learning_rate"], tower["var_list"], tower["var_groups"], tower["update_ops"],
                      model_variables, tower["end_points"], eval_logits, eval_end_points, weights_finite, saver)
