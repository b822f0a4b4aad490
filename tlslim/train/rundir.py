"""The train_dir of a run: its run record, its checkpoints, and the checks that keep runs apart.

A train_dir holds V2 checkpoints `model.ckpt-<step>`, TensorBoard events and `tlslim_run.json`
(what made it: model, dataset, strategy, exclusions, ...). Re-running the same command resumes
from the latest checkpoint; a run of another kind is refused with the reason.
"""
import contextlib
import datetime
import fcntl
import json
import logging as logging_std
import os
import re
import socket

from absl import logging

from tlslim.compat import tf
from tlslim.errors import TlslimError, error_cause
from tlslim.paths import missing_dirs

RUN_FILE = "tlslim_run.json"  # what a train_dir was made by, to refuse mixing runs
LOCK_FILE = "tlslim.lock"     # held by the live run of a train_dir
LOG_FILE = "tlslim.log"       # every invocation's log, with absl's prefixes
CHECKPOINT_PREFIX = "model.ckpt"
# What must be equal to resume a run: what defines it. The rest (max_steps, log, save and
# evaluation frequencies, the number of replicas or workers) may change between invocations.
RESUME_KEYS = ("model", "dataset", "dataset_dir", "labels_offset", "train_subset", "imbalance_ratio", "class_weights",
               "sampling", "num_classes", "class_names", "image_size", "preprocessing", "geometry", "strategy", "trainable_scopes", "optimizer", "learning_rate", "momentum",
               "lr_decay", "decay_steps", "decay_rate", "weight_decay", "batch_size", "precision", "head_steps")


def checkpoint_step(path):
    """The global step a checkpoint was saved at (0 if it has none)."""
    reader = tf.train.load_checkpoint(path)
    return int(reader.get_tensor("global_step")) if reader.has_tensor("global_step") else 0


def checkpoint_history(train_dir):
    """The checkpoints of `train_dir`, oldest first, found in the directory itself: the state file's
    list by file name (so a moved or copied train_dir finds its own files), else every
    `model.ckpt-<step>` there by step."""
    if not os.path.isdir(train_dir):
        return []
    state = tf.train.get_checkpoint_state(train_dir)
    listed = [os.path.join(train_dir, os.path.basename(p)) for p in state.all_model_checkpoint_paths] if state else []
    listed = [p for p in listed if os.path.isfile(p + ".index")]
    if listed:
        return listed
    steps = [int(m.group(1)) for m in (re.fullmatch(rf"{re.escape(CHECKPOINT_PREFIX)}-(\d+)\.index", f)
                                       for f in os.listdir(train_dir)) if m]
    return [os.path.join(train_dir, f"{CHECKPOINT_PREFIX}-{step}") for step in sorted(steps)]


def latest_checkpoint(train_dir):
    """The newest checkpoint of `train_dir` (see checkpoint_history), or None."""
    history = checkpoint_history(train_dir)
    return history[-1] if history else None


def _holder_text(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode("utf-8", "replace").strip()


class _RunLogHandler(logging_std.Handler):
    """A run's log lines, with absl's prefixes (level, time, thread, file, line), appended to
    train_dir/tlslim.log; held back until the run writes its record (`start`), so a run stopped by
    a check before that changes no file."""

    def __init__(self, train_dir):
        super().__init__()
        self.path = os.path.join(train_dir, LOG_FILE)
        self.pending, self.file = [], None
        self.setFormatter(logging.PythonFormatter())

    def start(self):
        self.file = open(self.path, "a", encoding="utf-8")
        self._write()

    def _write(self):
        self.file.write("".join(line + "\n" for line in self.pending))
        self.file.flush()
        self.pending = []

    def emit(self, record):
        try:
            self.pending.append(self.format(record))
            if self.file is not None:
                self._write()
        except OSError:
            self.handleError(record)

    def close(self):
        if self.file is not None:
            self.file.close()
        super().close()


_RUN_LOGS = {}  # train_dir (absolute) -> its live _RunLogHandler


@contextlib.contextmanager
def run_log(train_dir):
    """Copy the log of the block to `train_dir`'s log file, from when the run writes its record
    (write_run_record) on; lines before that are held and written then."""
    handler = _RunLogHandler(train_dir)
    logger = logging.get_absl_logger()
    logger.addHandler(handler)
    _RUN_LOGS[os.path.abspath(train_dir)] = handler
    try:
        yield
    finally:
        _RUN_LOGS.pop(os.path.abspath(train_dir), None)
        logger.removeHandler(handler)
        handler.close()


@contextlib.contextmanager
def run_lock(train_dir):
    """Hold `train_dir` for this run (a lock file under fcntl.flock, which the system releases
    however the process ends). Another live run holding it: TlslimError naming that process. A
    lock file left by a run that ended without releasing it is taken over with a warning. On the
    way out the lock file goes, and the directories this call created go too if nothing else was
    written to them."""
    created = missing_dirs(train_dir)[::-1]  # deepest first
    os.makedirs(train_dir, exist_ok=True)
    path = os.path.join(train_dir, LOCK_FILE)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder_text(fd) or "a process that has not yet said which"
            os.close(fd)
            raise TlslimError(f"--train_dir {train_dir} is in use by another run ({holder}); wait for it to finish "
                              f"or stop it, or pass another --train_dir.") from None
        # Its holder may have removed the file between our open and our lock: lock the file at the path.
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        previous = _holder_text(fd)
        if previous:
            logging.warning("%s was left locked by a run that ended without releasing it (%s); taking it over",
                            train_dir, previous)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        started = datetime.datetime.now().isoformat(timespec="seconds")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
        for directory in created:
            try:
                os.rmdir(directory)  # only when empty
            except OSError:
                break


def run_record(config, num_classes, image_size, plan, cached=False, class_names=None, workers=1,
               parameter_servers=0):
    """The JSON-ready record of what a run is; `class_names` (the training set's) let predict.py
    name a fine-tuned net's outputs; `workers` and `parameter_servers` count a cluster's tasks.
    Without a `plan` (before it is made) the record has no strategy, exclusions or trainable scopes."""
    dataset_dir = os.path.abspath(config.dataset_dir) if config.dataset_dir else None
    record = {"model": config.model, "dataset": config.dataset, "dataset_dir": dataset_dir,
              "labels_offset": config.labels_offset, "train_subset": config.train_subset,
              "imbalance_ratio": config.imbalance_ratio,
              "class_weights": config.class_weights, "sampling": config.sampling,
              "num_classes": num_classes, "image_size": image_size,
              "preprocessing": config.preprocessing, "geometry": config.geometry, "precision": config.precision,
              "replicas": config.num_clones, "workers": workers, "parameter_servers": parameter_servers,
              "optimizer": config.optimizer, "learning_rate": config.learning_rate, "momentum": config.momentum,
              "lr_decay": config.lr_decay, "decay_steps": config.decay_steps, "decay_rate": config.decay_rate,
              "weight_decay": config.weight_decay, "batch_size": config.batch_size, "cache_features": bool(cached),
              "class_names": list(class_names) if class_names is not None else None}
    if plan is not None:
        record.update(strategy=plan.strategy, exclude=list(plan.exclude), trainable_scopes=list(plan.trainable_scopes))
    return record


def read_run_record(path):
    """What the training directory `path` (or a checkpoint in it) was made by, or None."""
    path = os.path.expanduser(str(path))
    record = os.path.join(path if os.path.isdir(path) else os.path.dirname(path), RUN_FILE)
    if not os.path.isfile(record):
        return None
    with open(record, encoding="utf-8") as f:
        return json.load(f)


def write_run_record(train_dir, record):
    """Write the record of the run (its checks passed) and start its log file (see run_log)."""
    os.makedirs(train_dir, exist_ok=True)
    with open(os.path.join(train_dir, RUN_FILE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    log = _RUN_LOGS.get(os.path.abspath(train_dir))
    if log is not None and log.file is None:
        log.start()


def _shown(key, value):
    if key == "class_names" and isinstance(value, list):
        return f"[{', '.join(value[:3])}{', ...' if len(value) > 3 else ''}] ({len(value)})"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return "default" if value is None else str(value)


def compare_records(train_dir, old, record, keys=RESUME_KEYS):
    """TlslimError listing every one of `keys` in which run record `record` differs from `old`
    (a key missing from either, as in a record of an older tlslim, is not compared)."""
    differ = [key for key in keys if old and key in old and key in record and old[key] != record[key]]
    if differ:
        what = "; ".join(f"{key} {_shown(key, old[key])} there, {_shown(key, record[key])} here" for key in differ)
        raise TlslimError(f"--train_dir {train_dir} holds a run made with other settings ({what}); resume it with "
                          f"the flags that made it, or pass a new --train_dir to start a new run.")


def check_resumable(train_dir, latest, record, graph, new_optimizer_state=False):
    """TlslimError unless the checkpoint in `train_dir` was written by the same kind of run. With
    `new_optimizer_state`, optimizer state (any variable but the model's and the global step) may be
    missing from it: returns the names of what is missing."""
    fix = f"use a new --train_dir, or the flags of the run that wrote {train_dir}"
    compare_records(train_dir, read_run_record(train_dir), record)
    saved = tf.train.load_checkpoint(latest).get_variable_to_shape_map()
    model = {v.op.name for v in graph.get_collection(tf.GraphKeys.MODEL_VARIABLES)} | {"global_step"}
    missing = []
    for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES):
        name = v.op.name
        if name not in saved and new_optimizer_state and name not in model:
            missing.append(name)
            continue
        if name not in saved:
            raise TlslimError(f"--train_dir {train_dir} holds a checkpoint of another model or setup "
                              f"({name} is not in {os.path.basename(latest)}); {fix}.")
        if list(saved[name]) != v.shape.as_list():
            raise TlslimError(f"--train_dir {train_dir} holds a checkpoint of another model or setup ({name} is "
                              f"{list(saved[name])} there, {v.shape.as_list()} here); {fix}.")
    return missing


def save_checkpoint(sess, tg, train_dir):
    """Save the session's variables as `train_dir/model.ckpt-<step>` after checking they are finite."""
    if not sess.run(tg.weights_finite):
        raise TlslimError(f"the weights became NaN or infinite at step {sess.run(tg.global_step)}; nothing was "
                          f"saved (the latest checkpoint is the last good one); lower --learning_rate.")
    try:
        path = tg.saver.save(sess, os.path.join(train_dir, CHECKPOINT_PREFIX), global_step=tg.global_step,
                             write_meta_graph=False)
    except (OSError, tf.errors.OpError) as err:
        # The state file is only updated after a complete write, so the previous checkpoint stays the latest.
        latest = latest_checkpoint(train_dir)
        raise TlslimError(f"could not save a checkpoint in {train_dir} at step {sess.run(tg.global_step)} "
                          f"({error_cause(err)}); "
                          f"{f'the latest checkpoint is still {latest}' if latest else 'no checkpoint was saved'}; "
                          f"free disk space or fix --train_dir, then run the same command again to resume.") from None
    logging.info("saved %s", path)
    return path
