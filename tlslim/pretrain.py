"""The embedded checkpoint: CifarNet pretrained from scratch on the SYNTHETIC source task.

    result = pretrain(PretrainConfig())   # trains, exports, evaluates; see scripts/pretrain.py
    pretrain(make_config(output=embedded.checkpoint_file(), overwrite=True))   # rebuild the shipped file

`pretrain` trains the net with `tlslim.train` (strategy scratch) on `synthetic_source` (20
classes, see tlslim.data.synthetic) and exports the result the way a TF-Slim release ships:
one V1 checkpoint file holding the model variables and `global_step` only (no optimizer slots,
no loss-scale or other bookkeeping), next to a JSON record of how it was made. Everything is a
function of the config: the data are generated from code, the initialization and the data order
come from `seed`. Target-task fine-tuning (`scripts/finetune.py`) restores it minus its head.

The file goes to `runs/pretrain/cifarnet_synthetic.ckpt` unless `output` says otherwise; a file
already there (the shipped embedded checkpoint included) is replaced only with `overwrite`, and
then only once the new file and its record are complete and the file has been evaluated.
"""
import dataclasses
import json
import os
import tempfile
import time
from typing import Optional

import numpy as np
from absl import logging

from tlslim import checkpoint_files, data, download, embedded, nets, paths, restore, train
from tlslim.compat import graph_mode, slim, tf
from tlslim.errors import TlslimError
from tlslim.train.config import TrainConfig, field, nested_config

DEFAULT_OUTPUT = os.path.join("runs", "pretrain", embedded.FILE_NAME)  # relative to the working directory
RECORD_SUFFIX = ".json"  # the record sits next to the file: cifarnet_synthetic.ckpt -> cifarnet_synthetic.json
# The TrainConfig fields that make up the recipe (what the record keeps; the rest is bookkeeping).
RECIPE_FIELDS = ("model", "dataset", "max_steps", "batch_size", "optimizer", "learning_rate", "lr_decay",
                 "weight_decay", "augment", "train_subset", "eval_examples", "seed", "device")


def default_train_config():
    """The shipped file's recipe: CifarNet from scratch on the source task, Adam with cosine decay."""
    return TrainConfig(model=embedded.MODEL, dataset=embedded.SOURCE_DATASET, strategy="scratch", max_steps=1000,
                       batch_size=64, optimizer="adam", learning_rate=0.001, lr_decay="cosine")


@dataclasses.dataclass
class PretrainConfig:
    """How the embedded checkpoint is made: where it goes, and the training run (the defaults are
    the shipped file's recipe)."""
    output: Optional[str] = field(None, f"The V1 checkpoint file to write (its JSON record goes beside it); "
                                        f"default: {DEFAULT_OUTPUT}. The embedded checkpoint that ships with "
                                        f"tlslim is {embedded.RELATIVE_DIR}/{embedded.FILE_NAME}.")
    overwrite: bool = field(False, "Replace --output (and its record) if it exists, the embedded checkpoint "
                                   "included; the new files go in only once complete.")
    train: TrainConfig = dataclasses.field(default_factory=default_train_config)

    def recipe(self):
        """The recipe as the record keeps it: {field: value} of RECIPE_FIELDS."""
        return {k: getattr(self.train, k) for k in RECIPE_FIELDS}

    def train_config(self, train_dir):
        """The training run, with its logging, evaluation and saving scaled to its length."""
        steps = self.train.max_steps
        return dataclasses.replace(self.train, strategy="scratch", train_dir=train_dir,
                                   log_every_steps=max(1, min(100, steps)), eval_every_steps=500 if steps > 500 else 0,
                                   save_every_steps=max(500, steps // 4), keep_checkpoints=1)


def make_config(**settings):
    """A PretrainConfig from keyword settings (`output`, and TrainConfig fields over the recipe)."""
    return nested_config(PretrainConfig, default_train_config(), **settings)


def default_output():
    """Where the recipe's file goes by default (relative to the working directory): not the
    embedded checkpoint, which is replaced only when asked for by name."""
    return DEFAULT_OUTPUT


def check_output(config):
    """The absolute path of `config`'s output file once every path it writes is fine; else a
    one-line TlslimError, before any training: --output not a .ckpt file name or not writable, an
    existing output (or record) without `overwrite`, a --train_dir that cannot be a directory."""
    given = config.output or default_output()
    if not given.endswith(".ckpt"):
        raise TlslimError(f"--output must be a file name ending in .ckpt (a V1 checkpoint file), got {given}.")
    output = os.path.abspath(paths.check_output_file(given, "--output", "the checkpoint file"))
    taken = [p for p in (output, record_path(output)) if os.path.lexists(p)]
    if taken and not config.overwrite:
        if embedded.is_embedded(output):
            raise TlslimError(f"--output {given} is the embedded checkpoint that ships with tlslim "
                              f"({embedded.RELATIVE_DIR}); pass --overwrite to replace it (the new file goes in "
                              f"only once complete), or choose another --output.")
        raise TlslimError(f"--output {given}: {taken[0]} already exists; pass --overwrite to replace it (the new "
                          f"files go in only once complete), or choose another --output.")
    if config.train.train_dir:
        paths.check_output_dir(config.train.train_dir, "--train_dir", "the training checkpoints")
    return output


def record_path(checkpoint_file):
    """The JSON record next to a checkpoint file (`x.ckpt` -> `x.json`)."""
    base, ext = os.path.splitext(checkpoint_file)
    return (base if ext == ".ckpt" else checkpoint_file) + RECORD_SUFFIX


def read_record(checkpoint_file):
    """The JSON record of a checkpoint file written by `pretrain`, or None if there is none."""
    path = record_path(os.path.abspath(os.path.expanduser(checkpoint_file)))
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def sha256(path):
    return download.file_hash(path, "sha256")


def model_variable_shapes(model, num_classes, image_size=None):
    """{name: shape} of the model variables of `model` built for `num_classes` (throwaway graph)."""
    info = nets.get_info(model)
    size = image_size or info.default_image_size
    with tf.Graph().as_default():
        nets.get_network_fn(model, num_classes)(tf.placeholder(tf.float32, [None, size, size, 3]))
        return {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}


def export_release(checkpoint_path, output, model, num_classes):
    """Copy the model variables of `model` (`num_classes` outputs) and `global_step` from a
    training checkpoint (file, V2 prefix or train_dir) into one V1 file `output`; returns
    {name: shape} of what was written. Optimizer slots and other entries are left out."""
    path = restore.resolve_checkpoint(checkpoint_path)
    reader = tf.train.load_checkpoint(path)
    saved = reader.get_variable_to_shape_map()
    shapes = model_variable_shapes(model, num_classes)
    for name, shape in shapes.items():
        if name not in saved or list(saved[name]) != shape:
            raise TlslimError(f"checkpoint {path} does not hold {model} with {num_classes} classes ({name} "
                              f"{'is missing' if name not in saved else 'is ' + str(saved[name])}); "
                              f"export a checkpoint of that net.")
    tensors = {name: reader.get_tensor(name) for name in shapes}
    step = reader.get_tensor("global_step") if "global_step" in saved else 0
    tensors["global_step"] = np.asarray(step, np.int64)
    checkpoint_files.write_checkpoint(output, tensors, version=1)
    return {name: list(np.shape(value)) for name, value in tensors.items()}


def pretrain(config):
    """Train `config.model` from scratch on `config.dataset`, export the V1 file `config.output`
    and its JSON record, and evaluate the exported file on the source test split.

    Returns the record: {'file', 'sha256', 'bytes', 'model', 'dataset', 'num_classes',
    'class_names', 'step', 'source_test_top1', 'source_test_examples', 'seconds' (the whole call),
    'config', 'tensorflow', 'note'}.
    """
    graph_mode()
    started = time.time()
    tc = config.train
    output = check_output(config)
    num_classes = len(class_names(tc.dataset))
    with tempfile.TemporaryDirectory(prefix="tlslim-pretrain-") as tmp:
        result = train.train(config.train_config(tc.train_dir or tmp))
        # The file and its record are made beside `output`, then moved over it together.
        with paths.staging_dir(os.path.dirname(output)) as staging:
            staged = os.path.join(staging, os.path.basename(output))
            export_release(result["checkpoint"], staged, tc.model, num_classes)
            record = _evaluate_and_record(config, staged, result, num_classes, started)
            paths.install(staging, os.path.dirname(output))
    logging.info("wrote %s (%d bytes, sha256 %s); source test top-1 %.4f", output, record["bytes"],
                 record["sha256"], record["source_test_top1"])
    return record


def _evaluate_and_record(config, output, result, num_classes, started):
    """Evaluate the exported file `output` and write its JSON record beside it; returns the record."""
    tc = config.train
    # Evaluate the exported file itself: it is what users restore.
    metrics = train.evaluate(tc.model, output, tc.dataset, num_examples=tc.eval_examples, device=tc.device)
    record = {
        "file": os.path.basename(output),
        "sha256": sha256(output),
        "bytes": os.path.getsize(output),
        "model": tc.model,
        "dataset": tc.dataset,
        "num_classes": num_classes,
        "class_names": class_names(tc.dataset),
        "step": int(result["step"]),
        "source_test_top1": metrics["top1"],
        "source_test_examples": metrics["count"],
        "seconds": round(time.time() - started, 1),
        "config": config.recipe(),
        "tensorflow": tf.__version__,
        "note": "SYNTHETIC-data model (trained on tlslim's procedurally generated source task), not ImageNet.",
    }
    with open(record_path(output), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    return record


def class_names(dataset):
    """The source task's class names (label order); the synthetic tasks need no data to name them."""
    if dataset in data.synthetic.TASKS:
        return data.synthetic.class_names(dataset)
    return data.load(dataset, split="test").class_names
