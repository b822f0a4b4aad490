"""The one training harness: every way of training runs through `train`.

`train` runs, in order: checks -> data -> plan (what to restore, what to train; the restore
preflight runs here, before anything expensive) -> the builder's preparation (cached features)
and graph -> session (resume from the train_dir, else restore the release checkpoint) -> the
loop (log, TensorBoard summaries, checkpoints, periodic evaluation) -> final evaluation.

It alone owns the train_dir and its run record, resume, restore and initialization, the
session, summaries, progress lines, evaluation, checkpoints, the NaN stop and Ctrl-C; a builder
(tlslim.train.builders) only makes the graph and says how one step and one evaluation run.
Checkpoints (V2) go to `train_dir` every `save_every_steps` and at the end. Re-running the same
config resumes from the latest one (step, weights and optimizer state; the release checkpoint is
then not read again) and stops at `max_steps`. Ctrl-C saves a checkpoint before stopping. A
non-finite loss stops with a TlslimError and nothing is saved, so the latest checkpoint stays the
last good one.
"""
import contextlib
import dataclasses
import os
import signal
import threading
import time

import numpy as np
from absl import logging

from tlslim import data, nets
from tlslim.compat import graph_mode, tf
from tlslim.device import available_memory, check_precision, choose_device, describe, replica_devices, session_config
from tlslim.errors import TlslimError, error_cause
from tlslim.paths import check_output_dir
from tlslim.progress import format_duration
from tlslim.train import builders, cluster, rundir
from tlslim.train.config import check_config, default_train_dir
from tlslim.train.evaluation import eval_metrics, first_examples, format_metrics
from tlslim.train.plan import check_memory, make_plan

# A training set whose largest class has more than this many times the smallest's images is
# reported as imbalanced.
IMBALANCED = 10
# A final test loss above this many times chance level (ln of the number of classes) is reported
# as a diverged run.
DIVERGED_LOSS = 10


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


def _log_plan(plan, tg, restored, resume_from):
    restored = [v.op.name for v in restored]
    new = [v.op.name for v in tg.model_variables if v.op.name not in set(restored)]
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


def _fit_batch(config, num_train):
    """`config` with a --batch_size larger than the training set clipped to it (a multiple of the
    replicas), with a line saying so."""
    if config.batch_size <= num_train:
        return config
    batch = num_train - num_train % config.num_clones
    if batch < 1:
        raise TlslimError(f"the training set has {num_train} images, fewer than --num_clones {config.num_clones}; "
                          f"use fewer replicas or more images.")
    logging.warning("--batch_size %d is more than the %d training images; using %d", config.batch_size, num_train,
                    batch)
    return dataclasses.replace(config, batch_size=batch)


def _log_classes(config, train_set):
    """The training set's class counts, a warning when they are far apart, and the class weights."""
    if train_set.labels is None:  # streamed: counting the classes would read every record
        logging.info("%s: %d training images in %d classes, streamed from slim's TFRecords (%s)", train_set.name,
                     len(train_set), train_set.num_classes, os.path.dirname(train_set.paths[0]))
        if config.class_weights == "balanced":
            raise TlslimError(f"--class_weights balanced counts the classes of a dataset held in memory; "
                              f"{train_set.name}'s TFRecords are streamed: drop --class_weights.")
        return
    counts = data.class_counts(train_set.labels, train_set.num_classes)
    shown = ", ".join(f"{name} {n}" for name, n in zip(train_set.class_names[:20], counts[:20]))
    logging.info("training images per class: %s%s", shown, ", ..." if len(counts) > 20 else "")
    present = counts[counts > 0]
    if len(present) and present.max() > IMBALANCED * present.min() and config.class_weights == "none" and \
            config.sampling == "shuffle":
        big, small = int(np.argmax(counts)), int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
        logging.warning("the classes are imbalanced: %s has %d training images, %s %d (%.0fx); top-1 favours the "
                        "large classes (the evaluation's macro recall does not); consider --class_weights balanced "
                        "or --sampling balanced", train_set.class_names[big], counts[big],
                        train_set.class_names[small], counts[small], counts[big] / counts[small])
    if config.class_weights == "balanced":
        weights = data.balanced_weights(train_set.labels, train_set.num_classes)
        logging.info("loss weights per class (balanced): %s", ", ".join(f"{w:.3g}" for w in weights[:20]))
    if config.sampling == "balanced":
        logging.info("batches drawn evenly over the %d classes", len(present))
        if config.class_weights == "balanced":
            logging.warning("--class_weights balanced with --sampling balanced corrects for the imbalance twice: "
                            "the rare classes now outweigh the common ones; use one of them")


def _suggest_cache(config, workers):
    """One line when a head-only run augments, so the base runs every step, though it need not."""
    if config.strategy == "head" and config.cache_features is None and config.augment is not False and \
            builders.cache_problem(dataclasses.replace(config, augment=False), workers=workers) is None:
        logging.info("only the head trains: %s --noaugment would run the frozen base once per image instead of "
                     "once per step (on a CPU roughly 20x faster per epoch; scripts/bench.py measures it)",
                     builders.CACHE_FLAG)


class _Interrupted:
    """Whether Ctrl-C was pressed (truthy once it was)."""
    pressed = False

    def __bool__(self):
        return self.pressed


@contextlib.contextmanager
def _interrupt_between_steps():
    """Ctrl-C sets a flag the loop reads between steps, instead of raising wherever the main thread
    happens to be (inside TensorFlow's or logging's Python code it can leave a lock held); a second
    Ctrl-C interrupts at once."""
    flag = _Interrupted()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:
        previous = signal.default_int_handler

    def handler(signum, frame):
        flag.pressed = True
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def run_loop(sess, tg, config, train_dir, run_step, evaluation, latest=None, writer=None, before_last_save=None,
             on_step=None):
    """Train on an initialized session to `config.max_steps`.

    run_step() takes one step -> (loss, accuracy, learning_rate, global step after it);
    evaluation(step) -> metrics. Logs (and, with `writer`, TensorBoard scalars) every
    log_every_steps, saves every save_every_steps and at the end, evaluates at step 0 (with
    eval_every_steps), every eval_every_steps and at the end. A non-finite loss raises TlslimError
    with nothing saved; Ctrl-C saves, then re-raises. `train_dir` and `evaluation` None: nothing is
    saved or evaluated (a worker of a cluster that is not the chief). `before_last_save()` runs
    before the last checkpoint. `on_step(step, loss, learning_rate)` sees every step before the
    finiteness check; when it returns True the loop stops there, with nothing saved or evaluated.
    Returns {'step', 'loss' (None if no step ran), 'losses' ([(step, loss)]), 'checkpoint',
    'final' (the last metrics, or None), 'loop_seconds', 'stopped' (by on_step)}.
    """
    step = int(sess.run(tg.global_step))
    checkpoint = latest
    if step >= config.max_steps:
        logging.info("%s is already at step %d (max_steps %d)%s", train_dir or "the run", step, config.max_steps,
                     ": evaluating only" if evaluation else "")
    elif config.eval_every_steps and step == 0 and evaluation:
        evaluation(step)
    loss, losses, loop_seconds = None, [], 0.0
    window, window_seconds = [], 0.0  # (loss, accuracy) of the steps since the last log line
    try:
        with _interrupt_between_steps() as interrupted:
            while step < config.max_steps:
                if interrupted:
                    raise KeyboardInterrupt
                tic = time.time()
                loss, acc, lr, step = run_step()
                window_seconds += time.time() - tic
                loss, step = float(loss), int(step)
                if on_step is not None and on_step(step, loss, float(lr)):
                    return {"step": step, "loss": loss, "losses": losses + [(step, loss)], "checkpoint": checkpoint,
                            "final": None, "loop_seconds": loop_seconds + window_seconds, "stopped": True}
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
                if train_dir and step % config.save_every_steps == 0 and step < config.max_steps:
                    checkpoint = rundir.save_checkpoint(sess, tg, train_dir)
                if evaluation and config.eval_every_steps and step % config.eval_every_steps == 0 and \
                        step < config.max_steps:
                    evaluation(step)
    except KeyboardInterrupt:
        step = int(sess.run(tg.global_step))
        if train_dir:
            rundir.save_checkpoint(sess, tg, train_dir)
        logging.warning("interrupted at step %d; %srun the same command again to resume", step,
                        f"checkpoint saved in {train_dir}; " if train_dir else "")
        raise
    loop_seconds += window_seconds
    if before_last_save:
        before_last_save()
        step = int(sess.run(tg.global_step))
    if train_dir and (not checkpoint or rundir.checkpoint_step(checkpoint) != step):
        checkpoint = rundir.save_checkpoint(sess, tg, train_dir)
    return {"step": step, "loss": loss, "losses": losses, "checkpoint": checkpoint,
            "final": evaluation(step) if evaluation else None, "loop_seconds": loop_seconds, "stopped": False}


def _result(started, step=None, loss=None, final=None, train_seconds=0.0, history=(), losses=(), train_dir=None,
            checkpoint=None, cache=None, role=None, diverged=None):
    final = final or {}
    return {"step": step, "loss": loss, "top1": final.get("top1"), "top5": final.get("top5"),
            "macro_recall": final.get("macro_recall"), "eval_loss": final.get("loss"),
            "seconds": time.time() - started, "train_seconds": train_seconds,
            "history": list(history), "losses": list(losses), "train_dir": train_dir, "checkpoint": checkpoint,
            "cache": cache, "role": role, "diverged": diverged}


def train(config, on_step=None):
    """Run `config` (a TrainConfig) to `max_steps`, resuming from its train_dir if possible.

    Returns {'step', 'loss' (last training loss; None if no step ran), 'top1', 'top5',
    'macro_recall' (the mean of the classes' recalls), 'eval_loss', 'seconds', 'train_seconds' (in
    training steps), 'history' (evaluation points: step, top1, top5, macro_recall, macro_f1, loss,
    count, seconds since the start), 'losses' ([(step, training loss)] of the steps this call
    ran), 'train_dir', 'checkpoint', 'cache' (cached features: their entries, whether this run
    extracted them and how long it took; None without the cache), 'role' (in a cluster: 'the
    chief', 'worker 1', 'ps 0'; else None), 'diverged' (a warning line when the final test loss is
    far above chance, else None)}. `on_step(step, loss, learning_rate)` sees every step and stops
    the run, unsaved and unevaluated, by returning True (see run_loop). In a cluster only the chief
    saves and evaluates: the others return no metrics, checkpoint or train_dir. Raises TlslimError
    for anything the user can fix; KeyboardInterrupt after saving a checkpoint.
    """
    started = time.time()
    graph_mode()
    config = check_config(config)
    team = cluster.resolve(config)
    if team is not None and team.job == "ps":
        cluster.serve(team, session_config())
        return _result(started, role=team.name(team.job, team.index))
    chief = team is None or team.is_chief
    info = nets.get_info(config.model)
    image_size = config.image_size or info.default_image_size
    # Replicas on the CPU split it into logical devices, which must happen before anything lists them.
    devices = replica_devices(config.num_clones, config.clone_on_cpu) if config.num_clones > 1 else None
    device = devices[0] if devices else choose_device(config.device)
    check_precision(config.precision, device)
    train_dir = config.train_dir or default_train_dir(config)
    where = dict(started=started, team=team, info=info, image_size=image_size, devices=devices, device=device,
                 train_dir=train_dir, on_step=on_step)
    if not chief:
        return _run_phases(config, **where)
    check_output_dir(train_dir, "--train_dir", "checkpoints")
    with rundir.run_lock(train_dir), rundir.run_log(train_dir):
        return _run_phases(config, **where)


def _run_phases(config, **where):
    """The run of `config`: one phase, or fine_tune's two (the head alone to head_steps, then
    everything with discriminative learning rates), each resumed where the train_dir stands."""
    if config.strategy != "fine_tune":
        return _run(config, **where)
    phases = fine_tune_phases(config)
    latest = rundir.latest_checkpoint(where["train_dir"]) if where["team"] is None or where["team"].is_chief else None
    step = rundir.checkpoint_step(latest) if latest else 0
    results = []
    for number, (phase, phase_config) in enumerate(phases, start=1):
        if step >= phase_config.max_steps and number < len(phases):
            continue  # this phase is over: the next one resumes from its checkpoint
        logging.info("fine_tune phase %d/%d: %s to step %d", number, len(phases), FINE_TUNE_PHASES[phase],
                     phase_config.max_steps)
        results.append(_run(phase_config, fine_tune=(config, phase), **where))
    result = dict(results[-1])
    for key in ("history", "losses"):
        result[key] = [item for r in results for item in r[key]]
    result["train_seconds"] = sum(r["train_seconds"] for r in results)
    return result


# fine_tune's phases and what each trains.
FINE_TUNE_PHASES = {"head": "the new head alone", "all": "everything, discriminative learning rates"}


def fine_tune_phases(config):
    """[(phase, config of the phase)] of a checked fine_tune config: the head alone to head_steps
    (strategy head), then everything to max_steps (strategy discriminative)."""
    head = dataclasses.replace(config, strategy="head", max_steps=config.head_steps)
    return [("head", head), ("all", dataclasses.replace(config, strategy="discriminative"))]


def _run(config, started, team, info, image_size, devices, device, train_dir, on_step=None, fine_tune=None):
    """train() after its checks, holding the train_dir (the chief); `fine_tune`: (the run's config,
    'head' or 'all') when this is a phase of fine_tune."""
    chief = team is None or team.is_chief
    cached = builders.use_cache(config, workers=len(team.workers) if team else 1)
    if cached and config.augment is None:
        config = dataclasses.replace(config, augment=False)  # a cached feature is computed once, unaugmented
    if cached:
        check_output_dir(builders.cache_dir(config), "--cache_dir", "cached features")
    placement = f"{len(devices)} replicas: {', '.join(devices)}" if devices else describe(device)
    logging.info("model %s on %s%s", config.model, placement, "; head trained on cached features"
                 if cached else "")
    if team:
        logging.info("cluster: %s", team.describe())
    if not cached:
        _suggest_cache(config, len(team.workers) if team else 1)

    # Data.
    train_set = data.load(config.dataset, config.dataset_dir, split="train", train_subset=config.train_subset,
                          seed=config.seed, imbalance_ratio=config.imbalance_ratio,
                          labels_offset=config.labels_offset)
    test_set = first_examples(data.load(config.dataset, config.dataset_dir, split="test", seed=config.seed,
                                        labels_offset=config.labels_offset),
                              config.eval_examples)
    style = config.preprocessing or info.preprocessing
    config = dataclasses.replace(config, geometry=data.choose_geometry(config.geometry, style,
                                                                       data.image_shape(train_set), image_size))
    logging.info("dataset %s: %d training and %d test images, %d classes, at %dx%d (%s preprocessing, %s)",
                 config.dataset, len(train_set), len(test_set), train_set.num_classes, image_size, image_size, style,
                 "slim's crops" if config.geometry == "slim" else "whole image")
    _log_classes(config, train_set)
    config = _fit_batch(config, len(train_set))

    # Plan: what to restore and what to train (stops here on a bad checkpoint or scope).
    latest = rundir.latest_checkpoint(train_dir) if chief else None
    resumed = rundir.read_run_record(train_dir) if latest else None
    # What the data and flags say, before the plan reads anything of the run being resumed.
    rundir.compare_records(train_dir, resumed, rundir.run_record(config, train_set.num_classes, image_size, None,
                                                                 class_names=train_set.class_names))
    plan = make_plan(config, train_set.num_classes, image_size, resumed)
    check_memory(config, plan.image_bytes, available_memory(device))
    if plan.restore_plan is not None and chief:
        logging.info("%s", plan.restore_plan.report.text())

    # Graph.
    if devices:
        builder = builders.Replicated(config, plan, train_set, test_set, image_size, devices)
    elif team:
        builder = builders.Distributed(config, plan, train_set, test_set, image_size, device, team)
    else:
        builder = (builders.CachedHead if cached else builders.FullGraph)(config, plan, train_set, test_set,
                                                                          image_size, device)
    builder.prepare()
    start_step = rundir.checkpoint_step(latest) if latest else 0
    tg = builder.build(start_step)
    record = rundir.run_record(config, train_set.num_classes, image_size, plan, cached, train_set.class_names,
                               workers=len(team.workers) if team else 1, parameter_servers=len(team.ps) if team else 0)
    if fine_tune:
        # One run in two phases: what defines it is the whole run's, not the phase's.
        record.update(strategy="fine_tune", head_steps=config.head_steps, phase=fine_tune[1],
                      trainable_scopes=list(info.scopes))
    resume_saver, new_state = tg.saver, None
    with tg.graph.as_default():
        if latest:
            # The second phase of fine_tune trains variables the first did not: their optimizer state is new.
            missing = rundir.check_resumable(train_dir, latest, record, tg.graph, new_optimizer_state=bool(fine_tune))
            if missing:
                resume_saver = tf.train.Saver([v for v in tf.global_variables() if v.op.name not in missing],
                                              name="resume_saver")
                new_state = tf.variables_initializer([v for v in tf.global_variables() if v.op.name in missing])
        # Resuming restores everything from train_dir; a fresh run restores the release weights.
        init_fn = plan.restore_plan.make_init_fn(tg.model_variables) if plan.restore_plan and not latest else None
        restored = list(init_fn.var_list.values()) if init_fn else []
        init_op = tf.variables_initializer([v for v in tf.global_variables() if v not in set(restored)])
    if chief:
        _log_plan(plan, tg, restored, latest)
    else:
        logging.info("the variables live on the parameter servers; %s initializes them",
                     team.name(*team.chief))
    tg.graph.finalize()

    if chief:
        rundir.write_run_record(train_dir, record)
    history = []
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(tf.summary.FileWriter(train_dir)) if chief else None
        sess = stack.enter_context(tf.Session(builder.target, graph=tg.graph, config=builder.session_config()))

        def initialize(sess):
            if latest:
                resume_saver.restore(sess, latest)
                logging.info("resuming from %s at step %d", latest, start_step)
                if new_state is not None:
                    sess.run(new_state)
                    logging.info("optimizer state starts afresh for the %d variables this phase trains anew",
                                 len(missing))
            else:
                sess.run(init_op)
                if init_fn:
                    init_fn(sess)

        def evaluation(step):
            m = eval_metrics(*builder.eval_pass(sess, tg))
            m.update(step=step, seconds=time.time() - started)
            history.append(m)
            _write_scalars(writer, step, {f"eval/{k}": m[k] for k in ("top1", "top5", "macro_recall", "loss")
                                          if m.get(k) is not None})
            logging.info("eval at step %d%s: %s", step, builder.label, format_metrics(m))
            return m

        if latest:
            # Older checkpoints of earlier invocations count against --keep_checkpoints too.
            tg.saver.set_last_checkpoints_with_time([(path, os.path.getmtime(path + ".index"))
                                                     for path in rundir.checkpoint_history(train_dir)])
        if team is None:
            initialize(sess)
        elif chief:
            if cluster.chief_start(sess, tg.inputs["cluster"], initialize):
                logging.info("rejoining the run the parameter servers hold, at step %d", sess.run(tg.global_step))
        else:
            cluster.wait_for_chief(sess, tg.inputs["cluster"], team, config.cluster_timeout)
            logging.info("joined the run at step %d", sess.run(tg.global_step))
        start_step = int(sess.run(tg.global_step))

        def wait_for_workers():
            cluster.wait_for_workers(sess, tg.inputs["cluster"], team, config.cluster_timeout)

        try:
            loop = run_loop(sess, tg, config, train_dir if chief else None, builder.step_fn(sess, tg, start_step),
                            evaluation if chief else None, latest, writer,
                            before_last_save=wait_for_workers if team and chief else None, on_step=on_step)
        except tf.errors.OpError as err:
            raise _user_error(err, config) from None
        if team:
            # The chief's work on the shared variables is over: release the parameter servers.
            sess.run(tg.inputs["cluster"].release_ps if chief else tg.inputs["cluster"].worker_done)
    final, seconds = loop["final"], time.time() - started
    if loop["stopped"]:
        logging.info("stopped at step %d, as asked, with nothing saved", loop["step"])
    elif final is None:
        logging.info("done: %s stopped at step %d in %s (training steps %s); %s saves and evaluates the run",
                     team.name(team.job, team.index), loop["step"], format_duration(seconds),
                     format_duration(loop["loop_seconds"]), team.name(*team.chief))
    else:
        logging.info("done: step %d in %s (training steps %s); %s", loop["step"], format_duration(seconds),
                     format_duration(loop["loop_seconds"]), format_metrics(final))
    return _result(started, loop["step"], loop["loss"], final, loop["loop_seconds"], history, loop["losses"],
                   train_dir if chief else None, loop["checkpoint"], builder.summary() or None,
                   team.name(team.job, team.index) if team else None, _diverged(final, train_set.num_classes, config))


def _diverged(final, num_classes, config):
    """A warning line when the test loss ended far above chance (a loss that exploded without
    becoming NaN), else None."""
    if not final or final.get("loss") is None or num_classes < 2:
        return None
    chance = float(np.log(num_classes))
    if final["loss"] <= DIVERGED_LOSS * chance:
        return None
    message = (f"training diverged: the test loss is {final['loss']:.4g}, more than {DIVERGED_LOSS}x chance "
               f"({chance:.3g} for {num_classes} classes); lower --learning_rate (now {config.learning_rate:g}) and "
               f"start a new --train_dir.")
    logging.warning("%s", message)
    return message


def _user_error(err, config):
    """A TensorFlow error as a TlslimError when its cause is the user's to fix (memory, disk,
    permissions); any other error is returned as it is."""
    cause = error_cause(err)
    if isinstance(err, tf.errors.ResourceExhaustedError) or cause == "out of memory":
        return TlslimError(f"out of memory while training ({cause}); lower --batch_size (now {config.batch_size}) "
                           f"or --image_size.")
    if cause in ("no space left on device", "disk quota exceeded", "read-only file system", "permission denied"):
        return TlslimError(f"TensorFlow stopped the run: {cause}; free disk space or fix the paths given, then run "
                           f"the same command again to resume.")
    return err
