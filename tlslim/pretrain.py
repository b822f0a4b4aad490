"""The embedded checkpoint: CifarNet pretrained from scratch on the SYNTHETIC source task.

    result = pretrain(PretrainConfig())   # trains, exports, evaluates; see scripts/pretrain.py

`pretrain` trains the net with `tlslim.train` (strategy scratch) on `synthetic_source` (20
classes, see tlslim.data.synthetic) and exports the result the way a TF-Slim release ships:
one V1 checkpoint file holding the model variables and `global_step` only (no optimizer slots,
no loss-scale or other bookkeeping), next to a JSON record of how it was made. Everything is a
function of the config: the data are generated from code, the initialization and the data order
come from `seed`. Target-task fine-tuning (`scripts/finetune.py`) restores it minus its head.
"""
import dataclasses
import hashlib
import json
import os
import tempfile
import time
from typing import Optional

import numpy as np
from absl import logging

from tlslim import nets, restore, train
from tlslim.compat import graph_mode, slim, tf
from tlslim.errors import TlslimError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBEDDED_DIR = os.path.join("checkpoints", "cifarnet_synthetic")  # relative to the repository
EMBEDDED_FILE = os.path.join(EMBEDDED_DIR, "cifarnet_synthetic.ckpt")
RECORD_SUFFIX = ".json"  # the record sits next to the file: cifarnet_synthetic.ckpt -> cifarnet_synthetic.json


@dataclasses.dataclass
class PretrainConfig:
    """How the embedded checkpoint is made (the defaults are the shipped file's recipe)."""
    model: str = "cifarnet"
    dataset: str = "synthetic_source"
    output: str = os.path.join(REPO, EMBEDDED_FILE)
    train_dir: Optional[str] = None       # default: a fresh temporary directory, deleted afterwards
    max_steps: int = 1000
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 0.001
    lr_decay: str = "cosine"
    weight_decay: float = 0.00004
    augment: Optional[bool] = None         # default: the net's preprocessing style's choice (on)
    train_subset: Optional[int] = None     # images per class (default: all 1000)
    eval_examples: Optional[int] = None    # source test images evaluated (default: all 2000)
    seed: int = 0
    device: str = "auto"

    def train_config(self, train_dir):
        return train.TrainConfig(
            model=self.model, dataset=self.dataset, strategy="scratch", train_dir=train_dir,
            max_steps=self.max_steps, batch_size=self.batch_size, optimizer=self.optimizer,
            learning_rate=self.learning_rate, lr_decay=self.lr_decay, weight_decay=self.weight_decay,
            augment=self.augment, train_subset=self.train_subset, eval_examples=self.eval_examples,
            seed=self.seed, device=self.device, log_every_steps=max(1, min(100, self.max_steps)),
            eval_every_steps=500 if self.max_steps > 500 else 0,
            save_every_steps=max(500, self.max_steps // 4), keep_checkpoints=1)


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
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_variable_shapes(model, num_classes, image_size=None):
    """{name: shape} of the model variables of `model` built for `num_classes` (throwaway graph)."""
    info = nets.get_info(model)
    size = image_size or info.default_image_size
    with tf.Graph().as_default():
        nets.get_network_fn(model, num_classes)(tf.placeholder(tf.float32, [None, size, size, 3]))
        return {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}


def write_v1(path, tensors):
    """Write {name: array} as one TF V1 checkpoint file at `path` (atomically: temp file + rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    names = sorted(tensors)
    arrays = [np.asarray(tensors[n]) for n in names]
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".ckpt", dir=directory)
    os.close(fd)
    try:
        with tf.Graph().as_default(), tf.Session() as sess:
            feeds = [tf.placeholder(tf.as_dtype(a.dtype), a.shape) for a in arrays]
            sess.run(tf.raw_ops.Save(filename=tmp, tensor_names=names, data=feeds), dict(zip(feeds, arrays)))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


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
    write_v1(output, tensors)
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
    output = os.path.abspath(os.path.expanduser(config.output))
    if not output.endswith(".ckpt"):
        raise TlslimError(f"--output must be a file name ending in .ckpt (a V1 checkpoint file), got {config.output}.")
    with tempfile.TemporaryDirectory(prefix="tlslim-pretrain-") as tmp:
        train_dir = config.train_dir or tmp
        result = train.train(config.train_config(train_dir))
        num_classes = len(nets_class_names(config))
        export_release(result["checkpoint"], output, config.model, num_classes)
    # Evaluate the exported file itself: it is what users restore.
    metrics = train.evaluate(config.model, output, config.dataset, num_examples=config.eval_examples,
                             device=config.device)
    record = {
        "file": os.path.basename(output),
        "sha256": sha256(output),
        "bytes": os.path.getsize(output),
        "model": config.model,
        "dataset": config.dataset,
        "num_classes": num_classes,
        "class_names": nets_class_names(config),
        "step": int(result["step"]),
        "source_test_top1": metrics["top1"],
        "source_test_examples": metrics["count"],
        "seconds": round(time.time() - started, 1),
        "config": {k: v for k, v in dataclasses.asdict(config).items() if k not in ("output", "train_dir")},
        "tensorflow": tf.__version__,
        "note": "SYNTHETIC-data model (trained on tlslim's procedurally generated source task), not ImageNet.",
    }
    with open(record_path(output), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    logging.info("wrote %s (%d bytes, sha256 %s); source test top-1 %.4f", output, record["bytes"],
                 record["sha256"], record["source_test_top1"])
    return record


def nets_class_names(config):
    """The source task's class names (label order); the synthetic tasks need no data to name them."""
    from tlslim import data
    if config.dataset in data.synthetic.TASKS:
        return data.synthetic.class_names(config.dataset)
    return data.load(config.dataset, split="test").class_names
