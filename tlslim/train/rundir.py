"""The train_dir of a run: its run record, its checkpoints, and the checks that keep runs apart.

A train_dir holds V2 checkpoints `model.ckpt-<step>`, TensorBoard events and `tlslim_run.json`
(what made it: model, dataset, strategy, exclusions, ...). Re-running the same command resumes
from the latest checkpoint; a run of another kind is refused with the reason.
"""
import json
import os

from absl import logging

from tlslim.compat import tf
from tlslim.errors import TlslimError

RUN_FILE = "tlslim_run.json"  # what a train_dir was made by, to refuse mixing runs
# What must be equal to resume a run (the others may change between invocations).
RESUME_KEYS = ("model", "num_classes", "strategy", "trainable_scopes", "optimizer", "geometry", "precision")


def checkpoint_step(path):
    """The global step a checkpoint was saved at (0 if it has none)."""
    reader = tf.train.load_checkpoint(path)
    return int(reader.get_tensor("global_step")) if reader.has_tensor("global_step") else 0


def latest_checkpoint(train_dir):
    return tf.train.latest_checkpoint(train_dir) if os.path.isdir(train_dir) else None


def run_record(config, num_classes, image_size, plan, cached=False, class_names=None, workers=1,
               parameter_servers=0):
    """The JSON-ready record of what a run is; `class_names` (the training set's) let predict.py
    name a fine-tuned net's outputs; `workers` and `parameter_servers` count a cluster's tasks."""
    dataset_dir = os.path.abspath(config.dataset_dir) if config.dataset_dir else None
    return {"model": config.model, "dataset": config.dataset, "dataset_dir": dataset_dir,
            "num_classes": num_classes, "image_size": image_size, "preprocessing": config.preprocessing,
            "geometry": config.geometry, "precision": config.precision, "replicas": config.num_clones,
            "workers": workers, "parameter_servers": parameter_servers,
            "strategy": plan.strategy, "exclude": list(plan.exclude), "trainable_scopes": list(plan.trainable_scopes),
            "optimizer": config.optimizer, "cache_features": bool(cached),
            "class_names": list(class_names) if class_names is not None else None}


def read_run_record(path):
    """What the training directory `path` (or a checkpoint in it) was made by, or None."""
    path = os.path.expanduser(str(path))
    record = os.path.join(path if os.path.isdir(path) else os.path.dirname(path), RUN_FILE)
    if not os.path.isfile(record):
        return None
    with open(record, encoding="utf-8") as f:
        return json.load(f)


def write_run_record(train_dir, record):
    os.makedirs(train_dir, exist_ok=True)
    with open(os.path.join(train_dir, RUN_FILE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)


def compare_records(train_dir, old, record, keys=RESUME_KEYS):
    """TlslimError naming the first of `keys` in which run record `record` differs from `old`."""
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


def check_writable_dir(directory, flag="--train_dir", what="checkpoints"):
    """TlslimError unless `directory` is, or can be made as, a writable directory."""
    path = os.path.abspath(directory)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise TlslimError(f"{flag} {directory} cannot be a directory: {path} is a file; pass a directory "
                          f"path for {what}.")
    if not os.access(path, os.W_OK | os.X_OK):
        raise TlslimError(f"{flag} {directory} is not writable ({path}); pass a directory you can write to.")


def save_checkpoint(sess, tg, train_dir):
    """Save the session's variables as `train_dir/model.ckpt-<step>` after checking they are finite."""
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
