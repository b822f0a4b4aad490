"""Evaluation: metrics of logits against labels, and a checkpoint's accuracy on a dataset split.

    evaluate("vgg_16", "runs/vgg_16-cifar10-head", "cifar10", dataset_dir="data", image_size=32)
    evaluate_run(EvalConfig(checkpoint_path="runs/cifarnet-synthetic-head"))  # settings from its run record
"""
import dataclasses
from typing import Optional

import numpy as np
from absl import logging

from tlslim import data, nets, restore
from tlslim.compat import graph_mode, slim, tf
from tlslim.device import choose_device, session_config
from tlslim.errors import TlslimError
from tlslim.progress import run_to_end
from tlslim.train.config import field
from tlslim.train.rundir import read_run_record


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


def eval_metrics(logits, labels):
    """{'top1', 'top5' (None for 5 classes or fewer), 'loss', 'count'} of logits [N, C] and labels [N]."""
    logits = np.asarray(logits, np.float64)
    top1, top5 = _accuracy(logits, labels)
    return {"top1": top1, "top5": top5, "loss": _cross_entropy(logits, labels), "count": int(len(labels))}


def format_metrics(m):
    top5 = f", top-5 {m['top5']:.4f}" if m["top5"] is not None else ""
    return f"top-1 {m['top1']:.4f}{top5}, loss {m['loss']:.4f} on {m['count']} test images"


def run_eval(sess, init, logits_t, labels_t):
    """One pass over an evaluation iterator -> (logits [N, C] float64, labels [N]) as numpy arrays."""
    sess.run(init)
    logits, labels = run_to_end(sess, [logits_t, labels_t])
    if logits is None:
        raise TlslimError("the evaluation split is empty; check --dataset_dir.")
    return logits.astype(np.float64), labels


def first_examples(dataset, n):
    """The first `n` examples of a Dataset (all of it for None)."""
    return dataset if n is None or n >= len(dataset) else dataset.subset(np.arange(n))


def style_stats(style, train_set):
    """The training split's statistics for the per-dataset preprocessing styles, else None."""
    return data.compute_stats(train_set) if style in data.preprocessing.STATS_STYLES else None


def evaluate(model, checkpoint_path, dataset, dataset_dir=None, split="test", image_size=None, batch_size=32,
             num_examples=None, preprocessing=None, device="auto", return_logits=False, geometry="auto"):
    """Top-1/top-5 accuracy of a checkpoint (a file, V2 prefix, or train_dir) on a dataset split.

    Builds the net in inference mode (dropout off, batch norm on its moving statistics) with the
    dataset's number of classes and restores every model variable. `geometry`: how images reach
    the input size (tlslim.data.choose_geometry). Returns {'top1', 'top5'
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
            pipeline = data.input_pipeline(test_set, batch_size, image_size, style, is_training=False, stats=stats,
                                           geometry=geometry)
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
        init_fn = restore.RestorePlan.from_report(report).make_init_fn(variables)
        with tf.Session(config=session_config()) as sess:
            sess.run(tf.global_variables_initializer())
            init_fn(sess)
            all_logits, all_labels = run_eval(sess, iterator.initializer, logits, labels)
    result = eval_metrics(all_logits, all_labels)
    logging.info("%s on %s/%s from %s: %s", model, dataset, split, init_fn.checkpoint_path, format_metrics(result))
    if return_logits:
        result.update(logits=all_logits, labels=all_labels)
    return result


@dataclasses.dataclass
class EvalConfig:
    """An evaluation of a checkpoint (the flags of scripts/evaluate.py). For a train_dir, model,
    dataset, dataset_dir, image_size and preprocessing default to the ones it was trained with."""
    checkpoint_path: Optional[str] = field(None, "Checkpoint file, V2 prefix, or training directory.")
    model: Optional[str] = field(None, "Network name; default: the train_dir's model.", aliases=("model_name",))
    dataset: Optional[str] = field(None, "Dataset name; default: the train_dir's dataset.", aliases=("dataset_name",))
    dataset_dir: Optional[str] = field(None, "Where the dataset's files are.")
    split: str = field("test", "Which split to evaluate.", choices=("train", "test"))
    image_size: Optional[int] = field(None, "Input size; default: the net's default size.",
                                      aliases=("eval_image_size",))
    preprocessing: Optional[str] = field(None, "Preprocessing style; default: the net's.")
    geometry: Optional[str] = field(None, "auto, slim or squash (see finetune.py --geometry); default: the "
                                          "train_dir's, else auto.", choices=data.GEOMETRIES)
    batch_size: int = field(32, "Images per batch.", aliases=("eval_batch_size",))
    # Spelled as finetune.py spells it; --num_examples (slim's eval_image_classifier.py) still works.
    eval_examples: Optional[int] = field(None, "Evaluate the first N images only.", aliases=("num_examples",))
    device: str = field("auto", "auto, cpu or gpu (optionally with an index, e.g. gpu:1).")
    # The field's former name, still accepted by the constructor.
    num_examples: dataclasses.InitVar[Optional[int]] = None

    def __post_init__(self, num_examples):
        if num_examples is not None and self.eval_examples is None:
            self.eval_examples = num_examples


def evaluate_run(config):
    """`evaluate` with an EvalConfig whose unset settings come from the checkpoint's run record;
    returns (metrics, the EvalConfig used)."""
    if not config.checkpoint_path:
        raise TlslimError("--checkpoint_path is required (a checkpoint file, V2 prefix or training directory).")
    record = read_run_record(config.checkpoint_path) or {}
    model = config.model or record.get("model")
    dataset = config.dataset or record.get("dataset")
    if not model or not dataset:
        missing = " and ".join(f for f, v in (("--model", model), ("--dataset", dataset)) if not v)
        raise TlslimError(f"{missing} required: {config.checkpoint_path} is not a training directory that "
                          f"records them.")
    same = dataset == record.get("dataset")  # the record's dataset settings apply to its dataset only
    config = dataclasses.replace(
        config, model=model, dataset=dataset,
        dataset_dir=config.dataset_dir or (record.get("dataset_dir") if same else None),
        image_size=config.image_size or record.get("image_size"),
        preprocessing=config.preprocessing or record.get("preprocessing"),
        # Runs recorded before the geometry choice existed trained on the whole image.
        geometry=config.geometry or (record.get("geometry", "squash") if record and same else "auto"))
    metrics = evaluate(config.model, config.checkpoint_path, config.dataset, dataset_dir=config.dataset_dir,
                       split=config.split, image_size=config.image_size, batch_size=config.batch_size,
                       num_examples=config.eval_examples, preprocessing=config.preprocessing, device=config.device,
                       geometry=config.geometry)
    return metrics, config
